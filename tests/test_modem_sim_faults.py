"""Fault injection in the simulated modem: ERROR / late / cut-short answers on named commands,
the modem resetting itself, garbage and stray DLE bytes, the port vanishing and coming back on
a new path, and a stream that only a DTR drop (closing the port) ends."""

from __future__ import annotations

import os
import threading
import time

import pytest
import serial

from appliance import pcm
from appliance.modem_sim import HangUp, ModemSimulator, Press, SimCall, Talk, Wait
from tests.test_modem_sim_helpers import (Port, assert_idle_in_class_0, decode_stream,
                                          go_voice, read_stream)


@pytest.fixture
def make_sim():
    started: list[ModemSimulator] = []
    ports: list[Port] = []

    def make(dialect="conexant", **faults):
        sim = ModemSimulator(name="faulty", dialect=dialect, faults=faults)
        sim.start()
        started.append(sim)
        port = Port(sim.port)
        ports.append(port)
        return sim, port

    yield make
    for port in ports:
        try:
            port.close()
        except Exception:
            pass
    for sim in started:
        sim.stop()


def answer(port, sim, dialect, call):
    port.command("ATE0")
    handle = sim.place_call(call)
    port.read_until(b"RING\r\n")
    go_voice(port, dialect)
    port.command("AT+VLS=1")
    return handle


def test_error_on_named_commands_only(make_sim):
    sim, port = make_sim(error_on=["AT+VCID=1", "+VSD"])
    port.command("ATE0")
    port.command("AT+VCID=1", final="ERROR")
    port.command("AT+VCID=0")
    port.command("AT+FCLASS=8")
    port.command("AT+VSD=0,0", final="ERROR")
    port.command("AT+VSD?", final="ERROR")
    port.command("AT+VIT=0")


def test_delay_on_a_named_command(make_sim):
    sim, port = make_sim(delay_on={"AT+FCLASS=8": 0.6})
    port.command("ATE0")
    port.send(b"AT+FCLASS=8\r")
    assert b"OK" not in port.read_for(0.3)
    port.read_until(b"\r\nOK\r\n", timeout=2)
    port.command("AT+FCLASS=0")  # only that command is late


def test_truncated_answer_then_normal_service(make_sim):
    sim, port = make_sim(truncate_on="ATI3")
    port.command("ATE0")
    port.send(b"ATI3\r")
    cut = port.read_for(0.4)
    assert cut and b"\r\nCX93001-EIS_V0.2013-V92\r\n".startswith(cut) and b"OK" not in cut
    port.command("ATI0")


@pytest.mark.parametrize("dialect", ["conexant", "usr"])
def test_the_modem_resetting_itself_on_a_command(make_sim, dialect):
    sim, port = make_sim(dialect=dialect, reset_on="AT+VLS=1")
    port.command("ATE0")
    port.command("AT+VCID=1")
    port.command("AT+FCLASS=8")
    port.send(b"AT+VLS=1\r")
    assert port.read_for(0.4) == b""  # no answer at all
    port.send(b"AT\r")
    assert port.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"  # echo is back on
    port.command("ATE0")
    assert port.info("AT+FCLASS?") == ["0"]
    assert port.info("AT+VCID?") == ["0"]


def test_reset_during_a_call_drops_the_line(make_sim):
    sim, port = make_sim()
    handle = answer(port, sim, "conexant", SimCall(ring_period=0.3, steps=[Talk(10)]))
    port.command("AT+VTR", final="CONNECT")
    read_stream(port, 0.1)
    sim.reset_now()
    assert handle.done.wait(2) and handle.outcome == "engine_hung_up"
    port.read_for(0.1)
    port.send(b"AT\r")
    assert port.read_until(b"OK\r\n").endswith(b"AT\r\r\nOK\r\n")


def test_garbage_while_idle_does_not_stop_commands_working(make_sim):
    sim, port = make_sim(garbage_idle=40, seed=3)
    junk = port.read_for(0.5)
    assert len(junk) > 0 and b"OK" not in junk
    port.send(b"\r")  # what a careful host does: a bare CR, then AT
    for _ in range(5):
        answer = port.command("AT")
        assert answer.endswith(b"\r\nOK\r\n")


def test_garbage_and_stray_dle_inside_the_stream(make_sim):
    sim, port = make_sim(garbage_stream=20, stray_dle=20, seed=5)
    answer(port, sim, "conexant", SimCall(ring_period=0.3, steps=[Wait(0.3), Press("4"),
                                                                   Wait(5)]))
    port.command("AT+VRX", final="CONNECT")
    audio, events = read_stream(port, 1.2)
    meaningful = [e for e in events if e >= " "]
    stray = [e for e in events if e < " "]
    assert meaningful == ["/", "4", "~"] and len(stray) >= 3
    assert len(audio) > 1.2 * 8000 * 0.6
    port.send(b"\x10!")
    port.read_until(b"\x10\x03\r\nOK\r\n")


def test_split_dle_pairs_still_decode(make_sim):
    sim, port = make_sim(split_dle=True)
    answer(port, sim, "conexant", SimCall(ring_period=0.3, steps=[Press("1"), HangUp("loop")]))
    port.command("AT+VRX", final="CONNECT")
    raw = b""
    end = time.monotonic() + 3
    while "l" not in decode_stream(raw)[1] and time.monotonic() < end:
        raw += port.ser.read(1)  # byte by byte: every DLE pair is seen split
    assert decode_stream(raw)[1] == ["/", "1", "~", "l"]


def test_the_port_vanishes_and_returns_on_a_new_path(make_sim):
    sim, port = make_sim()
    port.command("ATE0")
    old = sim.port
    seen: list[str] = []
    arrived = threading.Event()

    def moved(path: str) -> None:
        seen.append(path)
        arrived.set()

    sim.on_port_change = moved
    sim.vanish(return_after=0.4)
    with pytest.raises(serial.SerialException):
        end = time.monotonic() + 2
        while time.monotonic() < end:
            port.ser.read(1)
    assert sim.port_changed.wait(3) and arrived.wait(1)
    assert sim.port != old and not sim.port_gone.is_set()
    assert seen == [sim.port] and os.path.exists(sim.port)
    port.close()
    fresh = Port(sim.port)
    try:
        fresh.send(b"AT\r")
        assert fresh.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"  # a fresh modem: echo on
    finally:
        fresh.close()


def test_vanishing_for_good_leaves_no_port(make_sim):
    sim, port = make_sim()
    old = sim.port
    sim.vanish()
    assert sim.port_gone.wait(2)
    port.close()
    assert not os.path.exists(old) and not sim.port_changed.is_set()


def test_a_stuck_stream_ends_only_by_closing_the_port(make_sim):
    sim, port = make_sim(stuck_stream=True)
    handle = answer(port, sim, "conexant", SimCall(ring_period=0.3, steps=[Talk(10)]))
    port.command("AT+VRX", final="CONNECT")
    port.send(b"\x10!\x10^\x10\x03\rATH\r")
    audio, events = read_stream(port, 0.5)
    assert "ETX" not in events and b"OK" not in audio and len(audio) > 2000
    assert pcm.level_at(pcm.decode(pcm.U8, audio), 600) > 0.05  # still the caller talking
    port.close()
    assert handle.done.wait(2) and handle.outcome == "engine_hung_up"
    assert_idle_in_class_0(sim)
