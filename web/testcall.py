"""The "Place a test call" form (also shown on the dashboard) that asks the engine to ring a
simulated line with a chosen caller ID, keys and talk time. Checked here field by field first,
so every mistake gets its own sentence and the typed values stay in the form.
"""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for

from appliance.control import EngineUnavailable
from web import engine
from web.auth import login_required

bp = Blueprint("testcall", __name__)

MAX_TALK_S = 600
FIELDS = ("line", "number", "name", "keys", "seconds")


def empty_values(state: dict) -> dict:
    lines = state.get("lines") or []
    idle = next((l["id"] for l in lines if l.get("state") == "idle"), None)
    return {"line": idle or (lines[0]["id"] if lines else ""), "number": "5551234567",
            "name": "DOE JOHN", "keys": "1", "seconds": "5"}


def validate(form: dict, lines: list[dict]) -> tuple[dict, dict]:
    """(clean values for the engine, {field: message}). ``lines`` are the engine's lines."""
    errors: dict[str, str] = {}
    clean: dict = {}
    line_ids = {l["id"]: l for l in lines}
    line = form.get("line", "")
    if not line:
        errors["line"] = "Choose the line to ring."
    elif line_ids and line not in line_ids:
        errors["line"] = "That line does not exist any more; choose one from the list."
    clean["line"] = line

    number = form.get("number", "").strip().replace(" ", "").replace("-", "")
    if number.upper() == "P":
        number = "P"
    elif number and not re.fullmatch(r"[0-9]{1,20}", number):
        errors["number"] = ("The caller number may only contain digits (up to 20), or P for a "
                            "private number, or be left empty for no caller ID.")
    clean["number"] = number

    name = form.get("name", "").strip()
    if len(name) > 30 or any(not ch.isprintable() for ch in name):
        errors["name"] = "The caller name may be at most 30 ordinary characters."
    clean["name"] = name

    keys = form.get("keys", "").strip().replace(" ", "")
    if not re.fullmatch(r"[0-9*#]{0,20}", keys):
        errors["keys"] = ("Keys to press may only be the digits 0-9, * and # (up to 20), or "
                          "empty to press nothing.")
    clean["keys"] = keys

    seconds = form.get("seconds", "").strip()
    if not re.fullmatch(r"[0-9]{1,4}", seconds) or not 1 <= int(seconds) <= MAX_TALK_S:
        errors["seconds"] = f"Seconds to talk must be a whole number from 1 to {MAX_TALK_S}."
    else:
        clean["seconds"] = int(seconds)
    return clean, errors


@bp.route("/test-call", methods=["GET", "POST"])
@login_required(role="supervisor")
def test_call():
    engine_error = None
    try:
        state = engine().state()
    except EngineUnavailable as exc:
        state, engine_error = {}, str(exc)
    lines = state.get("lines") or []
    if request.method == "GET":
        return render_template("test_call.html", state=state, values=empty_values(state),
                               errors={}, engine_error=engine_error)
    values = {f: request.form.get(f, "") for f in FIELDS}
    clean, errors = validate(values, lines)
    status = 400
    if not errors and engine_error is None:
        try:
            # request(), not command(): command()'s own first parameter is called "name",
            # which clashes with the caller-name argument of test_call.
            answer = engine().request({"cmd": "test_call", "line": clean["line"],
                                       "number": clean["number"], "name": clean["name"],
                                       "keys": clean["keys"], "talk_s": clean["seconds"]})
        except EngineUnavailable as exc:
            engine_error, status = str(exc), 503
        else:
            if answer.get("ok"):
                label = next((l.get("label") or l["id"] for l in lines
                              if l["id"] == clean["line"]), clean["line"])
                flash(f"Test call placed on {label}", "ok")
                return redirect(url_for("dashboard.index"))
            errors["_engine"] = answer.get("error") or "The call engine refused the test call."
            status = 409
    elif engine_error is not None:
        status = 503
    return render_template("test_call.html", state=state, values=values, errors=errors,
                           engine_error=engine_error), status
