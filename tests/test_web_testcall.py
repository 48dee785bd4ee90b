"""The "Place a test call" form: per-field checks with kept values, the engine command, and the
engine's refusal (Flask test client, stand-in engine on a real control socket: see web_fixtures)."""

from __future__ import annotations

import html as htmllib

import pytest

from tests.web_fixtures import (_shared_engine, app, client, fake_engine, login,  # noqa: F401
                                page_token)

GOOD = {"line": "line2", "number": "5551234567", "name": "DOE JOHN", "keys": "1", "seconds": "5"}


def _post(client, **changes):
    data = {**GOOD, **changes, "csrf_token": page_token(client, "/test-call")}
    return client.post("/test-call", data=data)


@pytest.mark.parametrize("field,value,message", [
    ("line", "", "Choose the line to ring."),
    ("line", "line9", "That line does not exist any more"),
    ("number", "555-CALL", "The caller number may only contain digits"),
    ("number", "1" * 21, "The caller number may only contain digits"),
    ("name", "X" * 31, "The caller name may be at most 30 ordinary characters."),
    ("keys", "1a", "Keys to press may only be the digits 0-9, * and #"),
    ("seconds", "0", "Seconds to talk must be a whole number from 1 to 600."),
    ("seconds", "601", "Seconds to talk must be a whole number from 1 to 600."),
    ("seconds", "five", "Seconds to talk must be a whole number from 1 to 600."),
    ("seconds", "", "Seconds to talk must be a whole number from 1 to 600."),
])
def test_each_field_has_its_own_message_and_values_stay(client, fake_engine, field, value,
                                                        message):
    login(client, "sam")
    resp = _post(client, **{field: value})
    assert resp.status_code == 400
    page = htmllib.unescape(resp.data.decode())
    assert message in page
    assert page.count('class="field-error"') == 1  # only the wrong field is marked
    for name, kept in {**GOOD, field: value}.items():
        if name != "line":
            assert f'name="{name}" value="{kept}"' in page, name
    assert fake_engine.commands == []


def test_several_mistakes_are_all_reported_at_once(client, fake_engine):
    login(client, "sam")
    page = _post(client, number="abc", keys="x", seconds="9999").data.decode()
    assert page.count('class="field-error"') == 3


def test_good_form_places_the_call_and_says_so(client, fake_engine):
    login(client, "sam")
    resp = _post(client, number=" 555 123 ", keys="2#", seconds="12")
    assert resp.status_code == 302 and resp.location == "/"
    assert fake_engine.commands == [{"cmd": "test_call", "line": "line2", "number": "555123",
                                     "name": "DOE JOHN", "keys": "2#", "talk_s": 12}]
    assert b"Test call placed on Line 2" in client.get("/").data


def test_private_and_no_caller_id_are_accepted(client, fake_engine):
    login(client, "sam")
    assert _post(client, number="p", name="").status_code == 302
    assert _post(client, number="", keys="").status_code == 302
    assert [(c["number"], c["keys"]) for c in fake_engine.commands] == [("P", "1"), ("", "")]


def test_engine_refusal_is_shown_with_the_form_kept(client, fake_engine):
    fake_engine.replies["test_call"] = {"ok": False, "error": "Line 2 is busy (ringing)."}
    login(client, "sam")
    resp = _post(client, name="SMITH ANN")
    assert resp.status_code == 409
    assert b"Line 2 is busy (ringing)." in resp.data
    assert b'name="name" value="SMITH ANN"' in resp.data


def test_form_lists_the_engine_lines_on_the_dashboard_and_its_own_page(client):
    login(client, "olivia")
    for path in ("/", "/test-call"):
        page = client.get(path).data.decode()
        assert '<option value="line1">Line 1 (busy)</option>' in page
        assert '<option value="line2" selected>Line 2</option>' in page  # first idle line
