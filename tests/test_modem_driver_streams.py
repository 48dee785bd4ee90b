"""Each streaming state starts and stops cleanly: playback (+VTX), record (+VRX), duplex (+VTR).

The real driver against the simulator on a pty, in both dialects.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from appliance import pcm
from appliance.dle import DtmfCollector
from appliance.modem import ModemError
from appliance.modem_sim import HangUp, Press, SimCall, Talk, Tone, Wait
from tests.test_modem_driver_sim import line  # noqa: F401


def answered(sim, modem, steps):
    modem.open()
    handle = sim.place_call(SimCall(ring_period=0.25, steps=steps))
    import threading

    incoming = modem.wait_for_call(1, threading.Event())
    assert incoming is not None
    modem.answer()
    return handle


@pytest.mark.parametrize("dialect", ["conexant", "usr"])
def test_playback_plays_everything_then_stops_with_ok(line, dialect):
    sim, modem = line(dialect)
    handle = answered(sim, modem, [Wait(5)])
    modem.start_playback()
    modem.write_audio(pcm.tone(700, 1.0, amplitude=0.4))
    modem.stop_stream()  # returns once the modem has played it all
    assert not modem.streaming
    heard = handle.heard
    assert len(heard) >= 7600  # the whole second reached the line before OK
    assert pcm.level_at(heard[-8000:], 700) > 0.2
    # Back in voice command state, still off-hook: another stream can start.
    modem.start_duplex()
    modem.stop_stream()
    modem.hang_up()


@pytest.mark.parametrize("dialect", ["conexant", "usr"])
def test_record_receives_the_caller_and_keys_then_stops(line, dialect):
    sim, modem = line(dialect)
    answered(sim, modem, [Tone(900, 1.0), Press("7"), Talk(1.0, hz=500), HangUp("busy")])
    modem.start_record()
    with pytest.raises(ModemError, match="recording"):
        modem.write_audio(pcm.silence())
    got, digits, dtmf = [], [], DtmfCollector()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and not digits:
        samples, events = modem.read_audio(timeout=0.1)
        got.append(samples)
        digits += dtmf.feed(events)
    audio = np.concatenate(got)
    assert digits == ["7"]
    assert pcm.level_at(audio[:8000], 900) > 0.1
    modem.stop_stream()
    assert not modem.streaming
    modem.hang_up()


def test_a_second_kind_of_stream_is_refused_while_one_runs(line):
    sim, modem = line()
    answered(sim, modem, [Wait(5)])
    modem.start_duplex()
    with pytest.raises(ModemError, match="already streaming"):
        modem.start_record()
    modem.stop_stream()
    modem.hang_up()
