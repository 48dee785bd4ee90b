"""web.server over real sockets: waitress sends each server-sent event at once (no buffering),
serves several live dashboards side by side, and a page still loads while they are open."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request
from urllib.parse import urlparse

from tests.web_fixtures import (add_users, live_app, live_server, login, make_app,  # noqa: F401
                                own_engine, served)

EVENT = re.compile(rb"data: (\{.*?\})\n\n", re.S)


class SseReader:
    """A raw HTTP/1.1 client for /events: no library buffering between the socket and the test."""

    def __init__(self, base_url: str, cookie: str):
        url = urlparse(base_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=5)
        self.sock.sendall(f"GET /events HTTP/1.1\r\nHost: {url.netloc}\r\n"
                          f"Cookie: callbox_session={cookie}\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.buffer = b""
        self.seen = 0

    def next_event(self, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            found = list(EVENT.finditer(self.buffer))
            if len(found) > self.seen:
                self.seen += 1
                return json.loads(found[self.seen - 1].group(1))
            left = deadline - time.monotonic()
            assert left > 0, f"no event within {timeout} s; got {self.buffer[-300:]!r}"
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the stream"
            self.buffer += chunk

    def close(self):
        self.sock.close()


def _session_cookie(app, user="sam") -> str:
    client = app.test_client()
    login(client, user)
    return client.get_cookie("callbox_session").value


def test_events_reach_the_socket_at_once(live_app, live_server, own_engine):
    reader = SseReader(live_server, _session_cookie(live_app))
    try:
        start = time.monotonic()
        first = reader.next_event()
        assert first["lines"][0]["id"] == "line1"
        assert reader.buffer.startswith(b"HTTP/1.1 200")
        assert b"Content-Type: text/event-stream" in reader.buffer
        assert time.monotonic() - start < 2.0
        # A small change must arrive well before waitress's 1 s poll tick would push a buffer.
        for n in range(3):
            state = own_engine.state()
            state["queues"][0]["waiting"] = 10 + n
            sent = time.monotonic()
            own_engine.publish(state)
            event = reader.next_event(timeout=5)
            assert event["queues"][0]["waiting"] == 10 + n
            assert time.monotonic() - sent < 0.5, "the event was held back by the server"
    finally:
        reader.close()


def test_several_dashboards_and_pages_at_once(live_app, live_server, own_engine):
    cookie = _session_cookie(live_app)
    readers = [SseReader(live_server, cookie) for _ in range(6)]
    try:
        for reader in readers:
            assert reader.next_event()["staff"][0]["id"] == "alice"
        # An ordinary page still loads while six streams hold their threads.
        request = urllib.request.Request(f"{live_server}/calls",
                                         headers={"Cookie": f"callbox_session={cookie}"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200 and b"Call log" in resp.read()
        state = own_engine.state()
        state["lines"][1]["state"] = "ringing"
        own_engine.publish(state)
        for reader in readers:
            assert reader.next_event()["lines"][1]["state"] == "ringing"
    finally:
        for reader in readers:
            reader.close()


def test_too_many_dashboards_get_a_busy_event_not_a_hang(tmp_path, own_engine):
    app = make_app(tmp_path, own_engine.path, SECRET_KEY="k", CALLBOX_MAX_STREAMS=2)
    add_users(app)
    cookie = _session_cookie(app)
    with served(app) as url:
        readers = [SseReader(url, cookie) for _ in range(2)]
        try:
            for reader in readers:
                reader.next_event()
            extra = SseReader(url, cookie)
            deadline = time.monotonic() + 5
            while b"event: busy" not in extra.buffer:
                assert time.monotonic() < deadline, extra.buffer
                extra.sock.settimeout(deadline - time.monotonic())
                chunk = extra.sock.recv(4096)
                assert chunk, extra.buffer
                extra.buffer += chunk
            assert b"Too many live dashboards" in extra.buffer
            extra.close()
        finally:
            for reader in readers:
                reader.close()
            own_engine.stop()
