"""Dashboard rendering, the /events stream and the staff buttons (Flask test client, real store,
stand-in engine on a real control socket: see web_fixtures)."""

from __future__ import annotations

import json
import re
import time

from tests.web_fixtures import (_shared_engine, add_users, app, client, fake_engine,  # noqa: F401
                                live_app, login, make_app, own_engine, page_token)


def _card(html: str, attr: str, key: str) -> str:
    match = re.search(rf'<article[^>]*{attr}="{key}"[^>]*>(.*?)</article>', html, re.S)
    assert match, f"no card {attr}={key}"
    return re.sub(r"\s+", " ", match.group(1))


def test_dashboard_shows_lines_staff_queues_and_lights(client):
    login(client, "sam")
    html = client.get("/").data.decode()
    line1 = _card(html, "data-line", "line1")
    assert "Line 1" in line1 and "Talking" in line1 and "tone-green" in html
    assert "5551234567 DOE JOHN" in line1
    assert "1 min 05 s" in line1 or "1 min 06 s" in line1  # since how long
    assert "Queue: Sales · Staff: Alice" in line1
    assert "Idle" in _card(html, "data-line", "line2")
    line3 = _card(html, "data-line", "line3")
    assert "Fault" in line3 and "The modem on /dev/ttyACM2 stopped answering." in line3

    alice = _card(html, "data-staff", "alice")
    assert "On a call" in alice and "Skills: sales" in alice and "Headset: headset1" in alice
    assert "Hang up" in alice and "Answer" not in alice
    bob = _card(html, "data-staff", "bob")
    assert "Headset ringing" in bob and ">Answer<" in bob
    carol = _card(html, "data-staff", "carol")
    assert "On a break" in carol and "Skills: sales, support" in carol
    assert ">Available<" in carol and ">Break<" not in carol

    queues = re.sub(r"\s+", " ", re.search(r'<table class="table" id="queues">(.*?)</table>',
                                            html, re.S).group(1))
    assert '<tr data-queue="sales"><td>Sales</td><td class="num">2</td><td class="num">42 s</td>' \
        in queues
    lights = re.sub(r"\s+", " ", re.search(r'<ul id="lights"[^>]*>(.*?)</ul>', html, re.S).group(1))
    assert 'lamp lamp-amber lamp-blink' in lights and "Callers waiting" in lights
    assert "pin 23" in lights and "Blinking" in lights
    assert 'lamp lamp-red lamp-off' in lights
    assert "The call engine is not running" not in html
    # The page's script and style come from this site (the appliance is offline).
    assert '<script src="/static/dashboard.js"' in html
    assert "http://" not in html and "https://" not in html
    assert client.get("/static/dashboard.js").status_code == 200


def test_engine_down_is_said_plainly(tmp_path):
    app = make_app(tmp_path, str(tmp_path / "no-engine.sock"), SECRET_KEY="k")
    add_users(app)
    client = app.test_client()
    login(client, "sam")
    resp = client.get("/")
    assert resp.status_code == 200
    html = resp.data.decode()
    assert "The call engine is not running" in html and "Trying again" in html
    assert 'data-events="/events"' in html  # the page keeps listening and recovers by itself
    # The stream says so too and ends, so the browser reconnects after the retry delay.
    body = client.get("/events").data.decode()
    assert body.startswith("retry: 3000")
    assert "event: engine-down" in body and "The call engine is not running" in body
    # Pages that need the engine give a friendly 503 page.
    page = client.get("/test-call")
    assert b"The call engine is not running" in page.data
    token = page_token(client)
    resp = client.post("/staff/bob/answer", data={"csrf_token": token},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 503 and "not running" in resp.get_json()["error"]


def _next_event(chunks) -> dict:
    for chunk in chunks:
        text = chunk.decode()
        if text.startswith("data: "):
            return json.loads(text[len("data: "):])
    raise AssertionError("stream ended without an event")


def test_events_stream_the_state_then_each_change(live_app, own_engine):
    # Its own engine: a watch connection left behind would trouble the shared one.
    client = live_app.test_client()
    login(client, "alice")
    resp = client.get("/events", buffered=False)
    try:
        assert resp.status_code == 200
        assert resp.mimetype == "text/event-stream"
        chunks = iter(resp.response)
        first = _next_event(chunks)
        assert first["lines"][0]["state"] == "talking"
        assert abs(first["server_now"] - time.time()) < 5
        changed = own_engine.state()
        changed["lines"][1].update(state="ringing", caller_number="5559876543",
                                   caller_name="ROE JANE")
        own_engine.publish(changed)
        second = _next_event(chunks)
        assert second["lines"][1]["state"] == "ringing"
        assert second["lines"][1]["caller_name"] == "ROE JANE"
    finally:
        resp.close()


def test_events_need_a_login(client):
    resp = client.get("/events")
    assert resp.status_code == 401


def test_answer_button_sends_the_engine_command(client, fake_engine):
    login(client, "sam")
    token = page_token(client)
    resp = client.post("/staff/bob/answer", data={"csrf_token": token})
    assert resp.status_code == 302
    assert fake_engine.commands == [{"cmd": "answer", "staff_id": "bob"}]
    assert b"answered the call" in client.get("/").data
    # The page's script posts with the token in a header and gets JSON back.
    resp = client.post("/staff/alice/hangup", headers={"X-CSRFToken": token,
                                                       "Accept": "application/json"})
    assert resp.status_code == 200 and resp.get_json() == {"ok": True}
    resp = client.post("/staff/carol/state", data={"state": "available"},
                       headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert resp.get_json()["ok"] is True
    assert fake_engine.commands[1:] == [{"cmd": "hangup", "staff_id": "alice"},
                                        {"cmd": "staff_state", "staff_id": "carol",
                                         "state": "available"}]


def test_engine_refusal_is_shown_in_its_own_words(client, fake_engine):
    fake_engine.replies["answer"] = {"ok": False, "error": "Bob's headset is not ringing."}
    login(client, "sam")
    token = page_token(client)
    resp = client.post("/staff/bob/answer", headers={"X-CSRFToken": token,
                                                     "Accept": "application/json"})
    assert resp.status_code == 409
    assert resp.get_json()["error"] == "Bob's headset is not ringing."
    resp = client.post("/staff/bob/answer", data={"csrf_token": token}, follow_redirects=True)
    assert b"Bob&#39;s headset is not ringing." in resp.data


def test_staff_buttons_need_csrf_and_a_valid_state(client, fake_engine):
    login(client, "sam")
    resp = client.post("/staff/bob/answer", headers={"Accept": "application/json"})
    assert resp.status_code == 400 and "expired" in resp.get_json()["error"]
    token = page_token(client)
    resp = client.post("/staff/carol/state", data={"state": "asleep"},
                       headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "Choose Available, Break or Offline."
    assert fake_engine.commands == []


def test_unknown_page_gets_a_friendly_404(client):
    login(client, "sam")
    resp = client.get("/no/such/page")
    assert resp.status_code == 404
    assert b"There is no page at this address" in resp.data


def test_unexpected_failures_get_plain_pages(tmp_path):
    from appliance.control import EngineUnavailable

    app = make_app(tmp_path, str(tmp_path / "none.sock"), SECRET_KEY="k", TESTING=False)
    add_users(app)

    def broken():
        raise RuntimeError("boom at line 42")

    def engine_gone():
        raise EngineUnavailable("The call engine stopped answering: timed out")

    app.add_url_rule("/broken", view_func=broken)
    app.add_url_rule("/engine-gone", view_func=engine_gone)
    client = app.test_client()
    login(client, "sam")
    resp = client.get("/broken")
    assert resp.status_code == 500
    assert b"Something went wrong" in resp.data and b"boom" not in resp.data
    resp = client.get("/engine-gone")
    assert resp.status_code == 503
    assert b"The call engine stopped answering" in resp.data
    assert b"the call log, recordings" in resp.data


def test_engine_problems_are_shown_on_the_dashboard(tmp_path, own_engine):
    from tests.web_fixtures import sample_state

    state = sample_state()
    state["engine"]["problems"] = ["ModemManager is running. It takes over USB modems."]
    own_engine.publish(state)
    app = make_app(tmp_path, own_engine.path, SECRET_KEY="k")
    add_users(app)
    client = app.test_client()
    login(client, "sam")
    html = client.get("/").data.decode()
    box = re.search(r'<ul id="problems"[^>]*>(.*?)</ul>', html, re.S)
    assert box and "ModemManager is running" in box.group(1)
