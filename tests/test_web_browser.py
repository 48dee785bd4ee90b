"""The admin site in a real browser (Debian's Chromium via playwright) served by web.server.serve:
log in, watch the dashboard follow the engine's state live, use a staff button, survive the
engine going away and coming back, and place a test call through the form."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web_fixtures import (FakeEngine, browser, browser_login, live_app,  # noqa: F401
                                live_server, own_engine, page)


def test_dashboard_live_updates_buttons_and_test_call(page, live_server, own_engine):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors too (a Content-Security-Policy refusal shows up there), except the refused
    # requests this test provokes on purpose (400/409 answers are logged as "Failed to load").
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)

    browser_login(page, live_server, "sam")
    expect(page).to_have_url(f"{live_server}/")
    line2 = page.locator('#lines [data-line="line2"]')
    expect(line2).to_contain_text("Idle")
    expect(page.locator('#lines [data-line="line1"]')).to_contain_text("5551234567 DOE JOHN")
    # The stream is connected once the script has rendered the first event.
    expect(page.locator("#dashboard")).to_have_attribute("data-version", "1")
    page.evaluate("window.__sameDocument = true")

    # The engine publishes a new state: the page follows without reloading.
    state = own_engine.state()
    state["lines"][1].update(state="ringing", caller_number="5559876543", caller_name="ROE JANE",
                             call_id=14, since=state["lines"][1]["since"])
    state["queues"][1].update(waiting=1, longest_wait_s=4)
    state["lights"][3].update(mode="blink", lit=True)
    own_engine.publish(state)
    expect(line2).to_contain_text("Ringing")
    expect(line2).to_contain_text("5559876543 ROE JANE")
    expect(page.locator('#queues [data-queue="support"]')).to_contain_text("1")
    expect(page.locator('#lights [data-light="fault"] .lamp')).to_have_class(
        re.compile(r"\blamp-blink\b"))
    assert page.evaluate("window.__sameDocument") is True

    # A staff button goes to the engine; its refusal is shown in its own words.
    own_engine.replies["answer"] = {"ok": False, "error": "Bob's headset is not ringing."}
    page.locator('#staff [data-staff="bob"] button', has_text="Answer").click()
    expect(page.locator("#action-error")).to_have_text("Bob's headset is not ringing.")
    assert {"cmd": "answer", "staff_id": "bob"} in own_engine.commands

    # The engine goes away: the page says so, keeps retrying, and recovers when it is back.
    path = own_engine.path
    own_engine.stop()
    banner = page.locator("#engine-status")
    expect(banner).to_contain_text("The call engine is not running")
    expect(banner).to_contain_text("Trying again")
    back = FakeEngine(state, path=path)
    back.start()
    try:
        state["lines"][0].update(state="idle", caller_number=None, caller_name=None,
                                 call_id=None)
        back.publish(state)
        expect(banner).to_be_hidden(timeout=10_000)  # the browser retries every 3 s
        expect(page.locator('#lines [data-line="line1"]')).to_contain_text("Idle")

        # The test-call form: a mistake is explained and the typed values stay.
        form = page.locator("#testcall-form")
        form.locator('select[name="line"]').select_option("line3")
        form.locator('input[name="number"]').fill("5550001111")
        form.locator('input[name="name"]').fill("TEST CALLER")
        form.locator('input[name="keys"]').fill("2")
        form.locator('input[name="seconds"]').fill("0")
        form.locator("button[type=submit]").click()
        expect(page.locator(".field-error")).to_have_text(
            "Seconds to talk must be a whole number from 1 to 600.")
        form = page.locator("#testcall-form")
        expect(form.locator('input[name="name"]')).to_have_value("TEST CALLER")
        expect(form.locator('select[name="line"]')).to_have_value("line3")
        form.locator('input[name="seconds"]').fill("7")
        form.locator("button[type=submit]").click()
        expect(page.locator(".flash-ok")).to_have_text("Test call placed on Line 3")
        assert back.commands[-1] == {"cmd": "test_call", "line": "line3", "number": "5550001111",
                                     "name": "TEST CALLER", "keys": "2", "talk_s": 7}
        assert errors == []
    finally:
        back.close()  # before the web server stops, so the page's open stream ends at once
