"""The engine's control socket: newline-delimited JSON over a Unix socket.

The web side and the CLI never touch hardware; they ask the engine. A request is one JSON object
per line, ``{"cmd": "state"}`` or ``{"cmd": "<command>", ...args}``; the answer is one JSON object
per line. ``{"cmd": "watch"}`` turns the connection into a stream: the current state at once, then
a new state every time it changes. If the web side dies or restarts, only its connections close;
calls in progress live in the engine process.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)


class EngineUnavailable(RuntimeError):
    """The engine is not running or not answering."""


class StateBoard:
    """The latest engine state, with a version number that watchers wait on."""

    def __init__(self, initial: dict | None = None):
        self._cond = threading.Condition()
        self._state: dict = initial or {}
        self._version = 0
        self._closed = False

    def publish(self, state: dict) -> None:
        with self._cond:
            if state == self._state:
                return
            self._state = state
            self._version += 1
            self._cond.notify_all()

    def current(self) -> tuple[int, dict]:
        with self._cond:
            return self._version, self._state

    def wait_newer(self, version: int, timeout: float) -> tuple[int, dict] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._version != version or self._closed, timeout)
            if self._closed:
                return None
            return self._version, self._state

    def wait_until(self, predicate: Callable[[dict], bool], timeout: float) -> dict | None:
        """The first published state (the current one included) for which ``predicate`` holds;
        None if ``timeout`` seconds pass first or the board closes."""
        with self._cond:
            held = self._cond.wait_for(lambda: self._closed or predicate(self._state), timeout)
            return self._state if held and not self._closed else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        for raw in self.rfile:
            try:
                request = json.loads(raw)
                if not isinstance(request, dict) or "cmd" not in request:
                    raise ValueError("a request is a JSON object with a 'cmd' field")
            except ValueError as exc:
                self._send({"ok": False, "error": f"Bad request: {exc}"})
                continue
            if request["cmd"] == "watch":
                self._watch()
                return
            try:
                answer = self.server.dispatch(request)
            except Exception as exc:  # the engine must survive any bad command
                log.exception("control command %r failed", request.get("cmd"))
                answer = {"ok": False, "error": str(exc) or exc.__class__.__name__}
            self._send(answer)

    def _watch(self) -> None:
        board = self.server.board
        version, state = board.current()
        if not self._send(state):
            return
        while True:
            got = board.wait_newer(version, timeout=15.0)
            if got is None:
                return
            if got[0] == version:
                if not self._send({"keepalive": True}):
                    return
                continue
            version, state = got
            if not self._send(state):
                return

    def _send(self, obj: dict) -> bool:
        """Writes one answer; False when the other side has gone away."""
        try:
            self.wfile.write(json.dumps(obj, default=str).encode() + b"\n")
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, path: str, dispatch: Callable[[dict], dict], board: StateBoard):
        self.dispatch = dispatch
        self.board = board
        super().__init__(path, _Handler)


class ControlServer:
    """Serves ``dispatch(request) -> answer`` and the state board on a Unix socket."""

    def __init__(self, path: str | Path, dispatch: Callable[[dict], dict], board: StateBoard):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._server = _Server(self.path, dispatch, board)
        os.chmod(self.path, 0o660)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, name="control",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.board.close()
        self._server.shutdown()
        self._server.server_close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class ControlClient:
    """What the web side and the CLI use to talk to the engine."""

    def __init__(self, path: str | Path, timeout: float = 10.0):
        self.path = str(path)
        self.timeout = timeout

    def _connect(self, timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError, OSError) as exc:
            sock.close()
            raise EngineUnavailable(
                "The call engine is not running (no answer on its control socket "
                f"{self.path}). Start it with 'callbox engine' or 'make demo'.") from exc
        return sock

    def request(self, request: dict) -> dict:
        sock = self._connect(self.timeout)
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            with sock.makefile("rb") as reader:
                line = reader.readline()
        except OSError as exc:
            raise EngineUnavailable(f"The call engine stopped answering: {exc}") from exc
        finally:
            sock.close()
        if not line:
            raise EngineUnavailable("The call engine closed the connection without answering.")
        return json.loads(line)

    def state(self) -> dict:
        return self.request({"cmd": "state"})

    def command(self, name: str, /, **args: Any) -> dict:
        return self.request({**args, "cmd": name})

    def watch(self, timeout: float = 30.0) -> Iterator[dict]:
        """States as they change (keepalives every 15 s are passed through as ``{"keepalive": True}``)."""
        sock = self._connect(timeout)
        try:
            sock.sendall(b'{"cmd": "watch"}\n')
            with sock.makefile("rb") as reader:
                for line in reader:
                    yield json.loads(line)
        except OSError as exc:
            raise EngineUnavailable(f"The call engine stopped answering: {exc}") from exc
        finally:
            sock.close()
