"""The engine's control socket and state board, on a real Unix socket."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from appliance.control import ControlClient, ControlServer, EngineUnavailable, StateBoard


@pytest.fixture
def server(tmp_path):
    board = StateBoard({"n": 0})
    seen = []

    def dispatch(request):
        seen.append(request)
        if request["cmd"] == "boom":
            raise RuntimeError("the engine tripped")
        return {"ok": True, "echo": request}

    srv = ControlServer(tmp_path / "engine.sock", dispatch, board)
    srv.start()
    yield srv, board, seen, ControlClient(tmp_path / "engine.sock", timeout=5)
    srv.stop()


def test_commands_reach_the_engine_and_errors_come_back_as_sentences(server):
    _, _, seen, client = server
    assert client.command("test_call", line="line1", name="DOE JOHN")["ok"]
    assert seen[-1] == {"cmd": "test_call", "line": "line1", "name": "DOE JOHN"}
    answer = client.command("boom")
    assert answer == {"ok": False, "error": "the engine tripped"}


def test_a_malformed_request_is_refused_and_the_connection_goes_on(server, tmp_path):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(tmp_path / "engine.sock"))
        reader = s.makefile("rb")
        s.sendall(b"not json\n")
        assert json.loads(reader.readline())["error"].startswith("Bad request")
        s.sendall(b'{"cmd": "ping"}\n')
        assert json.loads(reader.readline())["ok"] is True


def test_watch_streams_the_state_and_each_change(server):
    _, board, _, client = server
    stream = client.watch()
    assert next(stream) == {"n": 0}
    board.publish({"n": 1})
    assert next(stream) == {"n": 1}
    stream.close()


def test_wait_until_wakes_on_publish_and_times_out():
    board = StateBoard({"n": 0})
    assert board.wait_until(lambda s: s["n"] == 0, 0.1) == {"n": 0}
    assert board.wait_until(lambda s: s["n"] == 5, 0.05) is None
    threading.Timer(0.05, board.publish, ({"n": 5},)).start()
    assert board.wait_until(lambda s: s["n"] == 5, 5) == {"n": 5}
    board.close()
    assert board.wait_until(lambda s: s["n"] == 9, 5) is None


def test_no_engine_is_said_plainly(tmp_path):
    with pytest.raises(EngineUnavailable, match="not running"):
        ControlClient(tmp_path / "nothing.sock").state()
