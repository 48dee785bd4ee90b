"""The live dashboard: lines, staff, queues and status lights, kept current by server-sent events.

``/`` renders the engine's state once on the server (so it reads fine without script);
``/events`` streams every new state from ``ControlClient.watch()`` as ``data: <json>`` and
``static/dashboard.js`` re-renders from it. The staff buttons (answer, hang up, available/break)
post here and become engine commands; the engine's own sentence is shown when it refuses.
"""

from __future__ import annotations

import json
import time

from flask import (Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template,
                   request, url_for)

from appliance.control import ControlClient, EngineUnavailable
from web import engine, get_store, wants_json
from web.auth import is_at_least, login_required, may_act_for
from web.testcall import empty_values

bp = Blueprint("dashboard", __name__)

# state -> (words, colour class). The page script gets the same tables (no second copy to drift).
LINE_STATES = {
    "idle": ("Idle", "grey"),
    "ringing": ("Ringing", "amber"),
    "menu": ("In the menu", "blue"),
    "waiting": ("Waiting for staff", "purple"),
    "talking": ("Talking", "green"),
    "fault": ("Fault", "red"),
}
STAFF_STATES = {
    "available": ("Available", "green"),
    "ringing": ("Headset ringing", "amber"),
    "talking": ("On a call", "blue"),
    "wrap-up": ("Wrapping up", "purple"),
    "break": ("On a break", "grey"),
    "offline": ("Offline", "dark"),
}
LAMP_COLOURS = {"power": "green", "line1": "green", "line2": "green", "waiting": "amber",
                "recording": "red", "fault": "red"}
LAMP_MODES = {"on": "On", "off": "Off", "blink": "Blinking"}
CALLER_STATUS = {"private": "Private number", "unavailable": "Number unavailable",
                 "none": "No caller ID"}
STAFF_COMMAND_STATES = {"available": "Available", "break": "On a break", "offline": "Offline"}
KEEPALIVE = ": keepalive\n\n"
RETRY_MS = 3000


def labels() -> dict:
    return {"line": LINE_STATES, "staff": STAFF_STATES, "lamp": LAMP_COLOURS,
            "lampMode": LAMP_MODES, "callerStatus": CALLER_STATUS}


@bp.route("/")
@login_required()
def index():
    engine_error = None
    try:
        state = engine().state()
    except EngineUnavailable as exc:
        state, engine_error = {}, str(exc)
    return render_template(
        "dashboard.html", state=state, engine_error=engine_error, now=time.time(),
        labels=labels(),
        staff_names={s["id"]: s.get("name") or s["id"] for s in state.get("staff", [])},
        queue_labels={q["name"]: q.get("label") or q["name"] for q in state.get("queues", [])},
        can_test_call=is_at_least("supervisor"), values=empty_values(state), errors={},
        viewer={"username": g.user["username"], "supervisor": is_at_least("supervisor")})


def _sse(data: dict, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


@bp.route("/events")
@login_required()
def events():
    """Server-sent events: the state now, then every change; an ``engine-down`` event and the
    end of the stream when the engine is not there (the browser reconnects after RETRY_MS)."""
    path = current_app.config["CALLBOX_CONTROL"]
    streams = current_app.extensions["callbox_streams"]

    def stream():
        if not streams.acquire(blocking=False):
            yield f"retry: {RETRY_MS * 5}\n" + _sse(
                {"error": "Too many live dashboards are open at once; live updates will resume "
                          "when one is closed."}, "busy")
            return
        try:
            yield f"retry: {RETRY_MS}\n\n"
            for state in ControlClient(path).watch(timeout=40.0):
                if state.get("keepalive"):
                    yield KEEPALIVE
                    continue
                yield _sse({**state, "server_now": time.time()})
            yield _sse({"error": "The call engine is not running: it stopped answering."},
                       "engine-down")
        except EngineUnavailable as exc:
            yield _sse({"error": str(exc)}, "engine-down")
        finally:
            streams.release()

    return current_app.response_class(
        stream(), mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _staff_name(staff_id: str) -> str:
    for row in get_store().staff():
        if row["id"] == staff_id:
            return row["name"] or staff_id
    return staff_id


def _staff_command(staff_id: str, command: str, done: str, **args):
    if not may_act_for(staff_id):
        abort(403, f"You can only use your own headset (you are {g.user['username']}); "
                   "ask a supervisor to act for others.")
    try:
        answer = engine().command(command, staff_id=staff_id, **args)
    except EngineUnavailable as exc:
        answer, status = {"ok": False, "error": str(exc)}, 503
    else:
        status = 200 if answer.get("ok") else 409
        if not answer.get("ok") and not answer.get("error"):
            answer["error"] = "The call engine refused without saying why."
    if wants_json():
        return jsonify(answer), status
    if answer.get("ok"):
        flash(done.format(name=_staff_name(staff_id)), "ok")
    else:
        flash(answer["error"], "error")
    return redirect(url_for("dashboard.index"))


@bp.route("/staff/<staff_id>/answer", methods=["POST"])
@login_required()
def answer(staff_id: str):
    return _staff_command(staff_id, "answer", "{name} answered the call.")


@bp.route("/staff/<staff_id>/hangup", methods=["POST"])
@login_required()
def hangup(staff_id: str):
    return _staff_command(staff_id, "hangup", "{name} hung up.")


@bp.route("/staff/<staff_id>/state", methods=["POST"])
@login_required()
def staff_state(staff_id: str):
    state = request.form.get("state", "")
    if state not in STAFF_COMMAND_STATES:
        message = "Choose Available, Break or Offline."
        if wants_json():
            return jsonify({"ok": False, "error": message}), 400
        flash(message, "error")
        return redirect(url_for("dashboard.index"))
    return _staff_command(staff_id, "staff_state",
                          "{name} is now " + STAFF_COMMAND_STATES[state].lower() + ".",
                          state=state)
