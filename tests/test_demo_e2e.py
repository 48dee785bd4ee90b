"""The demo as a person uses it: ``callbox demo`` running, Chromium on the admin page.

Logs in, sees the dashboard, places a test call with the form, and finds the call in the call
log with its recording. While the call is in progress the web process is killed: the engine
keeps the call, the demo restarts the web side, and the call still ends up in the log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.control import ControlClient, EngineUnavailable
from tests.web_fixtures import chromium

PASSWORD = "demo-owner-pass"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)  # polling another process's state; nothing to wait on here
    raise AssertionError(f"timed out waiting for {what}")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _web_pids(demo_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(demo_pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture
def demo(tmp_path):
    data = tmp_path / "demo"
    port = _free_port()
    cli = [sys.executable, "-m", "appliance.cli"]
    subprocess.run(cli + ["set-password", "--stdin", "--data", str(data)], input=PASSWORD + "\n",
                   text=True, check=True, capture_output=True)
    log = open(tmp_path / "demo.log", "w")
    proc = subprocess.Popen(cli + ["demo", "--data", str(data), "--port", str(port),
                                   "--ring-period", "0.5", "--answer-after", "1"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            _wait(lambda: _port_open(port), 90, "the admin page to come up")
        except AssertionError:
            log.flush()
            raise AssertionError("the demo's admin page did not come up; its output:\n" +
                                 (tmp_path / "demo.log").read_text()[-3000:]) from None
        client = ControlClient(data / "engine.sock")

        def lines_up():
            try:
                state = client.state()
            except EngineUnavailable:
                return False
            return all(l["state"] == "idle" for l in state["lines"]) and state["lines"]

        _wait(lines_up, 60, "the simulated lines")
        yield {"url": f"http://127.0.0.1:{port}", "port": port, "proc": proc, "data": data,
               "control": client, "log": tmp_path / "demo.log"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_log_in_place_a_test_call_and_find_it_in_the_call_log(demo):
    from playwright.sync_api import expect

    with chromium() as browser:
        page = browser.new_page()
        page.goto(demo["url"] + "/")
        page.fill("#username", "owner")
        page.fill("#password", PASSWORD)
        page.click("form.form button[type=submit]")
        expect(page.locator('[data-line="line1"]')).to_contain_text("Line 1")
        expect(page.locator('[data-staff="alice"]')).to_contain_text("Alice")
        expect(page.locator("#lights")).to_contain_text("Power")

        page.select_option("#tc-line", "line1")
        page.fill("#tc-number", "5551234567")
        page.fill("#tc-name", "DOE JOHN")
        page.fill("#tc-keys", "1")
        page.fill("#tc-seconds", "3")
        page.click("#testcall-form button[type=submit]")
        expect(page.locator("body")).to_contain_text("Test call placed")

        # The dashboard follows the call live, without a reload.
        line = page.locator('[data-line="line1"]')
        expect(line).to_contain_text("5551234567", timeout=30_000)
        expect(line).to_contain_text("Talking", timeout=30_000)

        # Kill the web side mid-call: the call goes on in the engine.
        for pid in _web_pids(demo["proc"].pid):
            os.kill(pid, signal.SIGKILL)
        _wait(lambda: not _port_open(demo["port"]), 10, "the web side to die")
        assert demo["control"].state()["lines"][0]["state"] == "talking"
        _wait(lambda: _port_open(demo["port"]), 60, "the demo to restart the web side")

        page.goto(demo["url"] + "/calls")
        if page.locator("#username").count():  # a new web process may want a fresh login
            page.fill("#username", "owner")
            page.fill("#password", PASSWORD)
            page.click("form.form button[type=submit]")
            page.goto(demo["url"] + "/calls")

        def answered_row_shown():
            page.reload()
            return "Talked to staff" in page.locator("body").inner_text()

        _wait(answered_row_shown, 60, "the call in the call log", interval=0.5)
        body = page.locator("body").inner_text()
        assert "5551234567" in body
        assert "Sales" in body or "sales" in body
        audio = page.locator("audio")
        expect(audio.first).to_be_attached()
        src = audio.first.get_attribute("src") or audio.first.locator("source").get_attribute("src")
        response = page.request.get(demo["url"] + src)
        assert response.status == 200
        assert response.body()[:4] == b"RIFF"
