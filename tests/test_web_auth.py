"""Web login, first-run owner setup, CSRF, sessions and role checks (Flask test client, real store,
stand-in engine on a real control socket: see web_fixtures)."""

from __future__ import annotations

from appliance.accounts import check_login, has_owner
from tests.web_fixtures import (PASSWORDS, _shared_engine, add_users, app, client,  # noqa: F401
                                csrf_token, fake_engine, login, make_app, page_token, store)


def test_login_ok_lands_on_dashboard_with_hardened_cookie(client):
    resp = login(client, "olivia")
    assert resp.status_code == 302 and resp.location == "/"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    assert page.status_code == 200
    assert b"olivia (owner)" in page.data


def test_wrong_password_is_refused_plainly_and_keeps_user_name(client):
    resp = login(client, "olivia", "not-the-password")
    assert resp.status_code == 401
    html = resp.data.decode()
    assert "Wrong user name or password." in html
    assert 'value="olivia"' in html  # the user name stays in the form
    assert "not-the-password" not in html
    # An unknown user gets exactly the same answer (nothing tells which part was wrong).
    other = login(client, "nobody", "not-the-password").data.decode()
    assert "Wrong user name or password." in other
    assert client.get("/").status_code == 302  # still not logged in


def test_post_without_csrf_token_is_refused_with_400(client):
    resp = client.post("/login", data={"username": "olivia", "password": PASSWORDS["olivia"]})
    assert resp.status_code == 400
    assert b"reload the page and try again" in resp.data
    assert client.get("/").status_code == 302


def test_logout_ends_the_session(client):
    login(client, "sam")
    assert client.get("/").status_code == 200
    resp = client.post("/logout", data={"csrf_token": page_token(client)})
    assert resp.status_code == 302
    assert client.get("/").location.startswith("/login")


def test_login_next_goes_back_but_never_off_site(client):
    assert client.get("/calls").location == "/login?next=/calls"
    token = csrf_token(client.get("/login").data)
    resp = client.post("/login", data={"username": "sam", "password": PASSWORDS["sam"],
                                       "next": "/calls", "csrf_token": token})
    assert resp.location == "/calls"
    client.post("/logout", data={"csrf_token": page_token(client)})
    token = csrf_token(client.get("/login").data)
    resp = client.post("/login", data={"username": "sam", "password": PASSWORDS["sam"],
                                       "next": "//evil.example/x", "csrf_token": token})
    assert resp.location == "/"


def test_password_change_ends_other_sessions(app, client, store):
    login(client, "alice")
    assert client.get("/").status_code == 200
    from appliance.accounts import set_password
    set_password(store, "alice", "a-brand-new-pass", "agent")
    assert client.get("/").status_code == 302


def test_first_run_every_page_leads_to_owner_setup_with_setup_code(tmp_path, fake_engine):
    app = make_app(tmp_path, fake_engine.path, CALLBOX_SETUP_CODE="c0ffee12")
    client = app.test_client()
    store = app.extensions["callbox_store"]
    for path in ("/", "/calls", "/login", "/test-call"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.location == "/setup", path
    page = client.get("/setup").data.decode()
    assert "Set the owner password" in page and "Setup code" in page
    token = csrf_token(page)

    wrong = client.post("/setup", data={"csrf_token": token, "setup_code": "00000000",
                                        "username": "boss", "password": "long-enough-1",
                                        "password2": "long-enough-1"})
    assert wrong.status_code == 400
    assert b"That setup code is not right" in wrong.data
    assert b'value="boss"' in wrong.data
    assert not has_owner(store)

    missing = client.post("/setup", data={"csrf_token": token, "username": "boss",
                                          "password": "long-enough-1",
                                          "password2": "long-enough-1"})
    assert b"Enter the setup code" in missing.data and not has_owner(store)

    mismatch = client.post("/setup", data={"csrf_token": token, "setup_code": "c0ffee12",
                                           "username": "boss", "password": "long-enough-1",
                                           "password2": "long-enough-2"})
    assert b"The two passwords are not the same." in mismatch.data and not has_owner(store)

    short = client.post("/setup", data={"csrf_token": token, "setup_code": "c0ffee12",
                                        "username": "boss", "password": "short",
                                        "password2": "short"})
    assert b"at least 8 characters" in short.data and not has_owner(store)

    ok = client.post("/setup", data={"csrf_token": token, "setup_code": " C0FFEE12 ",
                                     "username": "boss", "password": "long-enough-1",
                                     "password2": "long-enough-1"})
    assert ok.status_code == 302 and ok.location == "/"
    assert check_login(store, "boss", "long-enough-1")["role"] == "owner"
    assert client.get("/").status_code == 200  # logged in straight away
    # Setup is closed once an owner exists.
    assert client.get("/setup").location == "/login"
    again = client.post("/setup", data={"csrf_token": page_token(client), "setup_code": "c0ffee12",
                                        "username": "intruder", "password": "long-enough-1",
                                        "password2": "long-enough-1"})
    assert again.status_code == 302 and store.user("intruder") is None


def test_first_run_without_setup_code_asks_only_for_password(tmp_path, fake_engine):
    app = make_app(tmp_path, fake_engine.path)
    client = app.test_client()
    page = client.get("/setup").data.decode()
    assert "Setup code" not in page
    resp = client.post("/setup", data={"csrf_token": csrf_token(page), "username": "owner",
                                       "password": "long-enough-1", "password2": "long-enough-1"})
    assert resp.status_code == 302
    assert has_owner(app.extensions["callbox_store"])


def test_secret_key_is_generated_once_and_kept(tmp_path, fake_engine):
    first = make_app(tmp_path, fake_engine.path)
    key = first.config["SECRET_KEY"]
    assert len(key) >= 32
    assert first.extensions["callbox_store"].setting("web_secret_key") == key
    second = make_app(tmp_path, fake_engine.path)
    assert second.config["SECRET_KEY"] == key
    # A session made by the first app is valid in the restarted one.
    add_users(first, ["olivia"])
    c1 = first.test_client()
    login(c1, "olivia")
    c2 = second.test_client()
    c2.set_cookie("callbox_session", c1.get_cookie("callbox_session").value)
    assert c2.get("/").status_code == 200


def test_agent_sees_dashboard_but_not_the_rest(client, fake_engine):
    login(client, "alice")
    assert client.get("/").status_code == 200
    for path in ("/calls", "/calls/1", "/recordings/1", "/test-call", "/users"):
        resp = client.get(path)
        assert resp.status_code == 403, path
        assert b"supervisor account or higher" in resp.data or b"owner account" in resp.data
    token = page_token(client)
    # Her own headset: allowed. Someone else's: refused, and the engine never hears of it.
    assert client.post("/staff/alice/hangup", data={"csrf_token": token}).status_code == 302
    resp = client.post("/staff/bob/answer", data={"csrf_token": token})
    assert resp.status_code == 403 and b"your own headset" in resp.data
    assert [c["cmd"] for c in fake_engine.commands] == ["hangup"]
    assert fake_engine.commands[0]["staff_id"] == "alice"


def test_agent_page_has_buttons_only_on_own_card(client):
    login(client, "bob")
    html = client.get("/").data.decode()
    assert 'action="/staff/bob/answer"' in html
    assert 'action="/staff/alice/hangup"' not in html
    assert "Place a test call" not in html


def test_supervisor_sees_everything_but_users(client):
    login(client, "sam")
    for path in ("/", "/calls", "/test-call"):
        assert client.get(path).status_code == 200, path
    assert client.get("/users").status_code == 403


def test_owner_adds_an_agent_with_clear_errors(client, store):
    login(client, "olivia")
    token = page_token(client, "/users")
    bad = client.post("/users", data={"csrf_token": token, "username": "dave",
                                      "role": "agent", "password": "short"})
    assert bad.status_code == 400 and b"at least 8 characters" in bad.data
    assert b'value="dave"' in bad.data and store.user("dave") is None
    ok = client.post("/users", data={"csrf_token": token, "username": "dave", "role": "agent",
                                     "password": "dave-pass-123"})
    assert ok.status_code == 302
    assert check_login(store, "dave", "dave-pass-123")["role"] == "agent"
    last = client.post("/users", data={"csrf_token": token, "username": "olivia",
                                       "role": "agent", "password": "owner-pass-9"})
    assert b"only owner" in last.data
    assert store.user("olivia")["role"] == "owner"
