"""The call log: the paginated list, one call's detail with its events, and recording playback.

Reads the ``calls`` and ``call_events`` tables through ``appliance.store.Store``. Recordings are
served only from inside ``CALLBOX_RECORDINGS`` (no path traversal, no symlinks out of it), with
HTTP Range support so the browser's audio player can seek.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, render_template, request, send_file
from werkzeug.security import safe_join

from appliance.store import OUTCOMES
from web import get_store, recordings_root
from web.auth import login_required

bp = Blueprint("calls", __name__)

PER_PAGE = 50
EVENT_LABELS = {"arrived": "Call arrived", "answered": "Line answered", "offered": "Headset rang",
                "offer_cancelled": "Headset stopped ringing", "staff_answered": "Staff answered",
                "staff_hangup": "Staff hung up", "queued": "Joined the queue",
                "dtmf": "Key pressed", "caller_id": "Caller ID received", "ended": "Call ended"}


def outcome_label(outcome: str | None, ended_at: float | None = None) -> str:
    if outcome is None:
        return "In progress" if ended_at is None else "Unknown"
    return OUTCOMES.get(outcome, outcome.replace("_", " ").capitalize())


def caller_label(call: dict) -> str:
    parts = [p for p in (call.get("caller_number"), call.get("caller_name")) if p]
    if parts:
        return " ".join(parts)
    return {"private": "Private number", "unavailable": "Number unavailable"}.get(
        call.get("caller_status") or "", "No caller ID")


def _staff_names() -> dict[str, str]:
    return {row["id"]: row["name"] or row["id"] for row in get_store().staff()}


def _recording_path(call: dict) -> Path | None:
    """The recording's file when it lies inside the recordings directory, else None."""
    rel = call.get("recording")
    if not rel:
        return None
    root = recordings_root().resolve()
    joined = safe_join(str(root), str(rel))
    if joined is None:
        return None
    path = Path(joined).resolve()
    if not path.is_relative_to(root):
        return None
    return path


@bp.route("/calls")
@login_required(role="supervisor")
def call_log():
    page = max(1, request.args.get("page", 1, type=int) or 1)
    rows = get_store().calls(limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    more = len(rows) > PER_PAGE
    rows = rows[:PER_PAGE]
    queues = {q["name"]: q["label"] for q in get_store().queues()}
    return render_template("calls.html", calls=rows, page=page, more=more,
                           staff=_staff_names(), outcome_label=outcome_label,
                           caller_label=caller_label, queues=queues)


@bp.route("/calls/<int:call_id>")
@login_required(role="supervisor")
def call_detail(call_id: int):
    store = get_store()
    call = store.call(call_id)
    if call is None:
        abort(404, f"There is no call number {call_id} in the log.")
    return render_template("call.html", call=call, events=store.call_events(call_id),
                           staff=_staff_names(), outcome_label=outcome_label,
                           caller_label=caller_label, event_labels=EVENT_LABELS)


@bp.route("/recordings/<int:call_id>")
@login_required(role="supervisor")
def recording(call_id: int):
    call = get_store().call(call_id)
    if call is None:
        abort(404, f"There is no call number {call_id} in the log.")
    if not call.get("recording"):
        abort(404, f"Call {call_id} was not recorded.")
    path = _recording_path(call)
    if path is None:
        abort(404, f"The recording of call {call_id} is not stored in the recordings folder, "
                   "so it cannot be played here.")
    if not path.is_file():
        abort(404, f"The recording of call {call_id} is missing from the appliance "
                   f"(expected {call['recording']}). It may have been deleted to free space.")
    mimetype = "audio/wav" if path.suffix.lower() == ".wav" else None
    return send_file(path, mimetype=mimetype, conditional=True,
                     download_name=f"call-{call_id}{path.suffix}")
