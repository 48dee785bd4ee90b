"""Who is logged in: login/logout, the first-run owner setup, the users page, role checks.

Passwords are checked and hashed by ``appliance.accounts``. Roles rank owner > supervisor > agent;
``login_required(role="supervisor")`` lets supervisors and owners in. Until an owner exists every
page leads to "Set the owner password", which asks for the one-time setup code when the app has
one (``CALLBOX_SETUP_CODE``), so the appliance never has a default password. An agent's user name
is the id of their staff member (that is how "their own headset" is known).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading

from flask import (Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template,
                   request, session, url_for)

from appliance.accounts import ROLES, AccountError, check_login, has_owner, set_password
from web import get_store, wants_json

bp = Blueprint("auth", __name__)

RANK = {"agent": 1, "supervisor": 2, "owner": 3}
ROLE_LABELS = {"owner": "Owner", "supervisor": "Supervisor", "agent": "Agent"}
WRONG_LOGIN = "Wrong user name or password."
_setup_lock = threading.Lock()


def load_user_and_first_run():
    """before_request: put the logged-in user in ``g.user``; send everyone to setup on first run."""
    store = get_store()
    g.user = None
    username = session.get("user")
    if username:
        user = store.user(username)
        if user is None or not hmac.compare_digest(_password_tag(user), session.get("pw", "")):
            session.clear()  # user gone or password changed since: log in again
        else:
            g.user = user
    if request.endpoint == "static":
        return None
    if not current_app.extensions.get("callbox_has_owner"):
        if has_owner(store):
            current_app.extensions["callbox_has_owner"] = True
        elif request.endpoint != "auth.setup":
            if wants_json() or request.path == "/events":
                return jsonify({"ok": False, "error": "Set the owner password first."}), 401
            return redirect(url_for("auth.setup"))
    return None


def login_required(role: str = "agent"):
    """Decorator: the user must be logged in with at least ``role``."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}")

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            user = g.get("user")
            if user is None:
                if wants_json() or request.path == "/events":
                    return jsonify({"ok": False, "error": "Please log in again."}), 401
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if RANK.get(user["role"], 0) < RANK[role]:
                abort(403, f"This needs a {ROLE_LABELS[role].lower()} account or higher; you are "
                           f"logged in as {user['username']} ({ROLE_LABELS.get(user['role'], user['role']).lower()}).")
            return view(*args, **kwargs)
        return inner
    return wrap


def is_at_least(role: str) -> bool:
    user = g.get("user")
    return user is not None and RANK.get(user["role"], 0) >= RANK[role]


def may_act_for(staff_id: str) -> bool:
    """Owners and supervisors act for anyone; an agent only for the staff member named like them."""
    user = g.get("user")
    return user is not None and (is_at_least("supervisor") or user["username"] == staff_id)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.index")


def _password_tag(user: dict) -> str:
    """A keyed fingerprint of the password hash: changing the password ends older sessions."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, user["password_hash"].encode(), hashlib.sha256).hexdigest()[:20]


def _start_session(user: dict) -> None:
    session.clear()  # new session id content: nothing from before the login survives
    session.permanent = True
    session["user"] = user["username"]
    session["pw"] = _password_tag(user)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if g.user is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("login.html", username="", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    nxt = request.form.get("next", "")
    user = check_login(get_store(), username, password) if username and password else None
    if user is None:
        error = WRONG_LOGIN if username and password else "Enter your user name and password."
        return render_template("login.html", username=username, next=nxt, error=error), 401
    _start_session(user)
    return redirect(_safe_next(nxt))


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    store = get_store()
    if has_owner(store):
        return redirect(url_for("auth.login"))
    need_code = bool(current_app.config.get("CALLBOX_SETUP_CODE"))
    values = {"username": request.form.get("username", "owner").strip() or "owner"}
    if request.method == "GET":
        return render_template("setup.html", values=values, errors={}, need_code=need_code)
    errors: dict[str, str] = {}
    if need_code:
        given = request.form.get("setup_code", "").strip().lower()
        expected = str(current_app.config["CALLBOX_SETUP_CODE"]).strip().lower()
        if not given:
            errors["setup_code"] = ("Enter the setup code shown on the appliance's console when "
                                    "it started.")
        elif not secrets.compare_digest(given.encode(), expected.encode()):
            errors["setup_code"] = ("That setup code is not right. Use the code printed on the "
                                    "appliance's console.")
    password = request.form.get("password", "")
    if password != request.form.get("password2", ""):
        errors["password2"] = "The two passwords are not the same."
    if not errors:
        with _setup_lock:
            if has_owner(store):
                return redirect(url_for("auth.login"))
            try:
                set_password(store, values["username"], password, "owner")
            except AccountError as exc:
                errors["password"] = str(exc)
    if errors:
        return render_template("setup.html", values=values, errors=errors,
                               need_code=need_code), 400
    current_app.extensions["callbox_has_owner"] = True
    _start_session(store.user(values["username"]))
    flash(f"The owner password is set. You are logged in as {values['username']}.", "ok")
    return redirect(url_for("dashboard.index"))


@bp.route("/users", methods=["GET", "POST"])
@login_required(role="owner")
def users():
    store = get_store()
    values = {"username": "", "role": "agent"}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {"username": request.form.get("username", "").strip(),
                  "role": request.form.get("role", "")}
        password = request.form.get("password", "")
        if values["role"] not in ROLES:
            errors["role"] = "Choose a role: owner, supervisor or agent."
        if not values["username"]:
            errors["username"] = "Enter a user name (for agents: their staff id, e.g. alice)."
        elif len(values["username"]) > 40 or not values["username"].replace("-", "").replace(
                "_", "").replace(".", "").isalnum():
            errors["username"] = ("Use up to 40 letters, digits, dots, dashes or underscores "
                                  "for the user name.")
        existing = store.user(values["username"]) if values["username"] else None
        if (not errors and existing and existing["role"] == "owner" and values["role"] != "owner"
                and sum(u["role"] == "owner" for u in store.users()) == 1):
            errors["role"] = "This is the only owner; make another owner first."
        if not errors:
            try:
                set_password(store, values["username"], password, values["role"])
            except AccountError as exc:
                errors["password"] = str(exc)
        if errors:
            status = 400
        else:
            verb = "changed" if existing else "added"
            if values["username"] == g.user["username"]:
                _start_session(store.user(values["username"]))  # stay logged in after own change
            flash(f"User {values['username']} {verb} ({ROLE_LABELS[values['role']].lower()}).",
                  "ok")
            return redirect(url_for("auth.users"))
    return render_template("users.html", users=store.users(), values=values, errors=errors,
                           roles=ROLE_LABELS), status
