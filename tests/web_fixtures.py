"""Reusable pieces for the web tests: a stand-in engine on a real control socket, the app on a real
store, logging in, serving the app with waitress in a thread, and launching Debian's Chromium.

Import what a test module needs, fixtures included
(``from tests.web_fixtures import app, client, fake_engine, ...  # noqa: F401``). The stand-in engine is a real
``appliance.control.ControlServer`` + ``StateBoard`` whose dispatch is a small recording function:
it stands in for the engine process at the socket seam, so the web side is exercised through the
same client code and wire format as in production.
"""

from __future__ import annotations

import contextlib
import copy
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from appliance.accounts import set_password
from appliance.control import ControlServer, StateBoard
from appliance.store import Store

PASSWORDS = {"olivia": "owner-pass-1", "sam": "super-pass-1", "alice": "agent-pass-1",
             "bob": "agent-pass-2"}
ROLES = {"olivia": "owner", "sam": "supervisor", "alice": "agent", "bob": "agent"}

CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def sample_state(now: float | None = None) -> dict:
    """An engine state in the documented format: one line talking, one ringing, one in fault."""
    now = time.time() if now is None else now
    return {
        "engine": {"started_at": now - 100, "demo": True, "problems": []},
        "lines": [
            {"id": "line1", "label": "Line 1", "state": "talking", "caller_number": "5551234567",
             "caller_name": "DOE JOHN", "call_id": 12, "queue": "sales", "staff_id": "alice",
             "since": now - 65, "fault": None, "port": "/dev/pts/3", "model": "CX93001"},
            {"id": "line2", "label": "Line 2", "state": "idle", "caller_number": None,
             "caller_name": None, "call_id": None, "queue": None, "staff_id": None,
             "since": now - 300, "fault": None, "port": "/dev/pts/4", "model": "CX93001"},
            {"id": "line3", "label": "Line 3", "state": "fault", "caller_number": None,
             "caller_name": None, "call_id": None, "queue": None, "staff_id": None,
             "since": now - 10, "fault": "The modem on /dev/ttyACM2 stopped answering.",
             "port": "/dev/ttyACM2", "model": None},
        ],
        "staff": [
            {"id": "alice", "name": "Alice", "state": "talking", "skills": ["sales"],
             "headset": "headset1", "call_id": 12, "idle_s": 0},
            {"id": "bob", "name": "Bob", "state": "ringing", "skills": ["support"],
             "headset": "headset2", "call_id": 13, "idle_s": 40},
            {"id": "carol", "name": "Carol", "state": "break", "skills": ["sales", "support"],
             "headset": "headset3", "call_id": None, "idle_s": 0},
        ],
        "queues": [{"name": "sales", "label": "Sales", "waiting": 2, "longest_wait_s": 42},
                   {"name": "support", "label": "Support", "waiting": 0, "longest_wait_s": 0}],
        "lights": [{"name": "power", "label": "Power", "pin": 17, "mode": "on", "lit": True},
                   {"name": "line1", "label": "Line 1", "pin": 27, "mode": "on", "lit": True},
                   {"name": "waiting", "label": "Callers waiting", "pin": 23, "mode": "blink",
                    "lit": True},
                   {"name": "fault", "label": "Fault", "pin": 25, "mode": "off", "lit": False}],
    }


class FakeEngine:
    """A real ControlServer + StateBoard; ``dispatch`` records every command and answers from
    ``replies`` (default ``{"ok": True}``). Stands in for the engine process at the socket seam."""

    def __init__(self, state: dict | None = None, path: str | None = None):
        # Unix socket paths are limited to ~108 bytes: keep it short, not under pytest's tmp_path.
        self._dir = tempfile.mkdtemp(prefix="cbweb")
        self.path = path or str(Path(self._dir) / "engine.sock")
        self.board = StateBoard(copy.deepcopy(state if state is not None else sample_state()))
        self.commands: list[dict] = []
        self.replies: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._server: ControlServer | None = None

    def dispatch(self, request: dict) -> dict:
        if request["cmd"] == "state":
            return self.board.current()[1]
        with self._lock:
            self.commands.append(dict(request))
        return dict(self.replies.get(request["cmd"], {"ok": True}))

    def start(self) -> "FakeEngine":
        self._server = ControlServer(self.path, self.dispatch, self.board)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def publish(self, state: dict) -> None:
        self.board.publish(copy.deepcopy(state))

    def state(self) -> dict:
        return copy.deepcopy(self.board.current()[1])


def make_app(data_dir: Path, control_path: str, **config):
    from web import create_app

    base = {"CALLBOX_DB": str(data_dir / "callbox.db"), "CALLBOX_CONTROL": control_path,
            "CALLBOX_RECORDINGS": str(data_dir / "recordings"), "TESTING": True}
    base.update(config)
    (data_dir / "recordings").mkdir(parents=True, exist_ok=True)
    return create_app(base)


_HASHES: dict[str, str] = {}


def add_users(app, names=("olivia", "sam", "alice", "bob")) -> None:
    """The test users, hashed by appliance.accounts once per run (hashing is slow on purpose)."""
    store = app.extensions["callbox_store"]
    for name in names:
        if name not in _HASHES:
            set_password(store, name, PASSWORDS[name], ROLES[name])
            _HASHES[name] = store.user(name)["password_hash"]
        else:
            store.save_user(name, _HASHES[name], ROLES[name])


_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str | bytes) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    match = _TOKEN.search(text)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, username: str, password: str | None = None):
    """Log in through the real form (CSRF token and all); returns the POST response."""
    page = client.get("/login")
    return client.post("/login", data={"username": username,
                                       "password": password or PASSWORDS[username],
                                       "csrf_token": csrf_token(page.data)})


def page_token(client, path: str = "/") -> str:
    return csrf_token(client.get(path).data)


@contextlib.contextmanager
def served(app, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with ``web.server.serve`` in a thread on a free port; yields the base URL."""
    from web.server import serve

    ready = threading.Event()
    stop = threading.Event()
    holder: dict = {}

    def on_ready(server):
        holder["port"] = server.effective_port
        ready.set()

    thread = threading.Thread(target=serve, args=(app, host, 0),
                              kwargs={"ready": on_ready, "stop": stop}, daemon=True,
                              name="web-test-server")
    thread.start()
    assert ready.wait(10), "the web server did not start"
    try:
        yield f"http://{host}:{holder['port']}"
    finally:
        stop.set()
        thread.join(10)


@contextlib.contextmanager
def chromium(home: Path | None = None):
    """Debian's Chromium driven by playwright (its own browser download cannot work offline)."""
    from playwright.sync_api import sync_playwright

    own_home = home is None
    home = Path(tempfile.mkdtemp(prefix="cbchrome")) if own_home else home
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS,
                                     env={"HOME": str(home)})
        try:
            yield browser
        finally:
            browser.close()
    if own_home:
        shutil.rmtree(home, ignore_errors=True)


def browser_login(page, base_url: str, username: str, password: str | None = None) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password or PASSWORDS[username])
    page.click("form.form button[type=submit]")


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def _shared_engine():
    engine = FakeEngine().start()
    yield engine
    engine.close()


@pytest.fixture
def fake_engine(_shared_engine):
    """The stand-in engine, reset to ``sample_state()`` with no commands recorded. One socket
    serves the whole run (stopping a ControlServer takes half a second)."""
    _shared_engine.publish(sample_state())
    with _shared_engine._lock:
        _shared_engine.commands.clear()
    _shared_engine.replies.clear()
    return _shared_engine


@pytest.fixture
def own_engine():
    """A stand-in engine of this test's own, which the test may stop."""
    engine = FakeEngine().start()
    yield engine
    engine.close()


@pytest.fixture
def app(tmp_path, fake_engine):
    app = make_app(tmp_path / "data", fake_engine.path, SECRET_KEY="test-secret")
    add_users(app)
    yield app
    app.extensions["callbox_store"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app) -> Store:
    return app.extensions["callbox_store"]


@pytest.fixture
def live_app(tmp_path, own_engine):
    app = make_app(tmp_path / "data", own_engine.path, SECRET_KEY="test-secret")
    add_users(app)
    yield app
    app.extensions["callbox_store"].close()


@pytest.fixture
def live_server(live_app, own_engine):
    """The base URL of ``live_app`` (on ``own_engine``) served by waitress. The engine's socket
    is stopped before the web server so open event streams end at once."""
    with served(live_app) as url:
        yield url
        own_engine.stop()


@pytest.fixture(scope="session")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
