"""Dialling out through the simulated modem (reference section 9): answered calls that then
stream, and BUSY / NO ANSWER / NO DIAL TONE / NO CARRIER per ``outbound_behaviour``."""

from __future__ import annotations

import time

import numpy as np
import pytest

from appliance import pcm
from appliance.modem_sim import HangUp, ModemSimulator, SimCall, Talk, Wait
from tests.test_modem_sim_helpers import (dialect, go_voice, port, read_stream,  # noqa: F401
                                          read_stream_until, sim)


def test_an_answered_outbound_call_streams_both_ways(port, sim, dialect):
    sim.outbound_behaviour = {"5551234": {"result": "answer", "rings": 2, "ring_period": 0.3,
                                          "steps": [Talk(0.8, hz=800), HangUp("busy")]}}
    port.command("ATE0")
    go_voice(port, dialect)
    port.command("AT+VRA=2;+VRN=10")
    started = time.monotonic()
    port.command("ATDT5551234")  # OK once the ringback has stopped
    assert time.monotonic() - started >= 0.3 + 0.1 + 0.2
    far = sim.outbound_calls[-1]
    assert far.answered.is_set() and far.call.number == "5551234"
    assert port.info("AT+VLS?") == ["1"]
    port.command("AT+VTR", final="CONNECT")
    port.send(np.full(4000, 0x90, np.uint8).tobytes())
    audio, events = read_stream_until(port, "b", timeout=3)
    assert pcm.level_at(pcm.decode(pcm.U8, audio), 800) > 0.05
    assert len(far.heard) > 1000 and np.all(far.heard == pcm.decode(pcm.U8, b"\x90"))
    port.send(b"\x10^")
    port.read_until(b"\x10\x03\r\nOK\r\n")
    port.command("ATH")
    assert far.done.wait(1) and far.outcome == "hung_up"


@pytest.mark.parametrize("result,final", [("busy", "BUSY"), ("no_carrier", "NO CARRIER"),
                                          ("no_answer", "NO ANSWER"),
                                          ("no_dial_tone", None)])
def test_failed_outbound_calls(port, sim, dialect, result, final):
    if final is None:
        final = "NO DIAL TONE" if dialect == "conexant" else "NO DIALTONE"
    sim.outbound_behaviour = {"default": {"result": result, "rings": 1, "ring_period": 0.3}}
    port.command("ATE0")
    go_voice(port, dialect)
    port.command("ATDT5550000", final=final, timeout=5)
    assert port.info("AT+VLS?") == ["0"]  # back on-hook


def test_vrn_0_presumes_an_answer_right_after_dialling(port, sim, dialect):
    sim.outbound_behaviour = {"default": {"result": "answer", "rings": 5, "ring_period": 6}}
    port.command("ATE0")
    go_voice(port, dialect)
    port.command("AT+VRN=0")
    port.command("ATDT12", timeout=1)
    port.command("AT+VRX", final="CONNECT")
    audio, _ = read_stream(port, 0.3)
    assert len(audio) > 1000


def test_any_character_aborts_dialling(port, sim, dialect):
    sim.outbound_behaviour = {"default": {"result": "answer", "rings": 5, "ring_period": 2}}
    port.command("ATE0")
    go_voice(port, dialect)
    port.send(b"ATDT5551234\r")
    assert b"OK" not in port.read_for(0.9)
    port.command("", final="NO CARRIER")
    assert port.info("AT+VLS?") == ["0"]


def test_class_0_dialling_finds_no_data_carrier_but_a_semicolon_stays_off_hook(
        port, sim, dialect):
    sim.outbound_behaviour = {"default": {"result": "answer", "rings": 1, "ring_period": 0.3,
                                          "steps": [Talk(5, hz=900)]}}
    port.command("ATE0")
    port.command("ATDT5551234", final="NO CARRIER", timeout=3)
    port.command("ATDT5551234;", timeout=2)
    go_voice(port, dialect)
    assert port.info("AT+VLS?") == ["1"]
    port.command("AT+VRX", final="CONNECT")
    audio, _ = read_stream(port, 0.5)
    assert pcm.level_at(pcm.decode(pcm.U8, audio[800:]), 900) > 0.05  # the far end talking


def test_dialling_too_soon_after_a_ring_gets_no_carrier(port, sim, dialect):
    port.command("ATE0")
    handle = sim.place_call(SimCall(ring_period=0.2, max_rings=1, number=None))
    assert handle.done.wait(2)
    go_voice(port, dialect)
    port.command("ATDT5551234", final="NO CARRIER")


def test_bad_outbound_behaviour_is_explained():
    sim = ModemSimulator()
    with pytest.raises(ValueError, match="Outbound result 'ring' is not known"):
        sim.outbound_behaviour = {"default": "ring"}
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        sim.outbound_behaviour = {"555": {"result": "busy", "colour": "red"}}
    with pytest.raises(ValueError, match="not a caller step"):
        sim.outbound_behaviour = {"555": {"steps": [Wait(1), "hello"]}}
    assert sim.outbound_behaviour == {"default": "answer"}
