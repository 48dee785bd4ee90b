"""The Callbox admin web site (Flask): app factory, configuration, security headers, error pages.

Owns everything under ``web/``. The site reads the call log and recordings from the store and asks
the call engine for live state and actions over its control socket (``appliance.control``); it
never touches hardware. Areas live in blueprints: ``auth`` (login, first-run owner setup, users),
``dashboard`` (live state, server-sent events, staff buttons), ``testcall`` and ``calls``.

Config keys: ``CALLBOX_DB``, ``CALLBOX_CONTROL``, ``CALLBOX_RECORDINGS``, ``SECRET_KEY`` (made
once and kept in the store setting ``web_secret_key`` when not given), ``CALLBOX_SETUP_CODE``.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from appliance.control import ControlClient, EngineUnavailable
from appliance.store import Store

csrf = CSRFProtect()

DEFAULTS = {
    "CALLBOX_DB": "/var/lib/callbox/callbox.db",
    "CALLBOX_CONTROL": "/var/lib/callbox/engine.sock",
    "CALLBOX_RECORDINGS": "/var/lib/callbox/recordings",
    "CALLBOX_SETUP_CODE": None,
    "CALLBOX_MAX_STREAMS": 16,  # live dashboards at once (each holds one server thread)
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "callbox_session",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
    # A dashboard may stay open all day: the CSRF token lives as long as the session.
    "WTF_CSRF_TIME_LIMIT": None,
    "MAX_CONTENT_LENGTH": 64 * 1024,
}


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})

    store = Store(app.config["CALLBOX_DB"])
    app.extensions["callbox_store"] = store
    if not app.config.get("SECRET_KEY"):
        key = store.setting("web_secret_key")
        if not key:
            key = secrets.token_hex(32)
            store.set_setting("web_secret_key", key)
        app.config["SECRET_KEY"] = key

    app.extensions["callbox_streams"] = threading.BoundedSemaphore(
        int(app.config["CALLBOX_MAX_STREAMS"]))
    csrf.init_app(app)

    from web import auth, calls, dashboard, testcall

    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(testcall.bp)
    app.register_blueprint(calls.bp)
    app.before_request(auth.load_user_and_first_run)
    _register_errors(app)
    _register_template_helpers(app)

    @app.after_request
    def _security_headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data:; media-src 'self'; "
                     "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("X-Frame-Options", "DENY")
        if request.endpoint != "static":
            h.setdefault("Cache-Control", "no-store")
        return response

    return app


# -- shared helpers used by the blueprints -----------------------------------------------------
def get_store() -> Store:
    from flask import current_app

    return current_app.extensions["callbox_store"]


def engine(timeout: float = 5.0) -> ControlClient:
    """A client for the engine's control socket (a page never waits longer than ``timeout``)."""
    from flask import current_app

    return ControlClient(current_app.config["CALLBOX_CONTROL"], timeout=timeout)


def wants_json() -> bool:
    """Requests from the page's own script (fetch) get JSON answers instead of a page."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def local_time(ts: float | None, with_date: bool = True) -> str:
    if ts is None:
        return "—"
    fmt = "%d %b %Y, %H:%M:%S" if with_date else "%H:%M:%S"
    return time.strftime(fmt, time.localtime(float(ts))).lstrip("0")


def duration(seconds: float | None) -> str:
    """12 s, 3 min 05 s, 1 h 02 min."""
    if seconds is None:
        return "—"
    s = max(0, int(round(float(seconds))))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def line_label(line_id: str | None) -> str:
    """Turns "line2" into "Line 2" (the engine's own labels follow that pattern); others as is."""
    if not line_id:
        return "—"
    match = re.fullmatch(r"line(\d+)", line_id)
    return f"Line {match.group(1)}" if match else line_id


def _register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["line_label"] = line_label
    app.jinja_env.filters["duration"] = duration

    @app.context_processor
    def _globals():
        return {"current_user": g.get("user")}


def _register_errors(app: Flask) -> None:
    def page(status: int, title: str, message: str, detail: str | None = None):
        if wants_json() or request.path == "/events":
            return jsonify({"ok": False, "error": message}), status
        return render_template("error.html", status=status, title=title, message=message,
                               detail=detail), status

    @app.errorhandler(404)
    def _not_found(exc):
        message = getattr(exc, "description", None)
        if not message or message.startswith("The requested URL was not found"):
            message = "There is no page at this address. Use the menu above to find your way."
        return page(404, "Page not found", message)

    @app.errorhandler(403)
    def _forbidden(exc):
        message = getattr(exc, "description", None)
        if not message or message.startswith("You don't have the permission"):
            message = "Your account may not open this page. Ask the owner if you need it."
        return page(403, "Not allowed", message)

    @app.errorhandler(405)
    def _method(exc):
        return page(405, "Not possible here",
                    "This address cannot be used that way. Go back and use the buttons on the page.")

    @app.errorhandler(413)
    def _too_big(exc):
        return page(413, "Too much data", "The form sent was too large. Go back and shorten it.")

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return page(400, "Form expired",
                    "This form has expired or did not come from this site. Go back, reload the "
                    "page and try again.")

    @app.errorhandler(400)
    def _bad_request(exc):
        return page(400, "Bad request",
                    "The browser sent something this site did not understand. Reload the page "
                    "and try again.")

    @app.errorhandler(EngineUnavailable)
    def _engine_down(exc):
        return page(503, "Call engine not running", str(exc),
                    "Pages that do not need the engine (the call log, recordings) still work.")

    @app.errorhandler(500)
    def _server_error(exc):
        return page(500, "Something went wrong",
                    "The admin site hit an unexpected problem. Nothing was changed by it; try "
                    "again, and if it keeps happening restart the appliance.")


def recordings_root(app: Flask | None = None) -> Path:
    from flask import current_app

    return Path((app or current_app).config["CALLBOX_RECORDINGS"])
