"""VoiceModem against the modem simulator (appliance/modem_sim.py) on a pty: whole calls."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from appliance import pcm
from appliance.dle import DtmfCollector
from appliance.hangup_detect import HangupDetector
from appliance.modem import ModemError, ModemGone, VoiceModem
from appliance.modem_sim import (AwaitAnswer, HangUp, ModemSimulator, Press, SimCall, Talk,
                                 Tone, Wait)

RING_PERIOD = 0.25


@pytest.fixture
def line():
    """Start a simulator (dialect, faults) and a driver on it; both stopped afterwards."""
    sims: list[ModemSimulator] = []
    modems: list[VoiceModem] = []

    def make(dialect="conexant", faults=None, **modem_kw):
        sim = ModemSimulator(name=f"t{len(sims)}", dialect=dialect, faults=faults)
        sims.append(sim)
        port = sim.start()
        kw = dict(timeout=2.0, backoff=0.05, ring_gap=RING_PERIOD * 3, stop_timeout=2.0)
        kw.update(modem_kw)
        modem = VoiceModem(port, **kw)
        modems.append(modem)
        return sim, modem

    yield make
    for modem in modems:
        modem.close()
    for sim in sims:
        sim.stop()


class CallRunner:
    """Reads the stream frame by frame, answering each 20 ms received with 20 ms sent."""

    def __init__(self, modem: VoiceModem, outgoing: np.ndarray | None = None,
                 silence_s: float = 3.0):
        self.modem = modem
        self.outgoing = outgoing if outgoing is not None else np.zeros(0, np.int16)
        self.received: list[np.ndarray] = []
        self.events: list[str] = []
        self.digits: list[str] = []
        self.detector = HangupDetector(silence_s=silence_s)
        self._dtmf = DtmfCollector()
        self._sent = 0

    def run(self, until, timeout: float) -> None:
        end = time.monotonic() + timeout
        pending = np.zeros(0, np.int16)
        while not until(self) and time.monotonic() < end:
            samples, events = self.modem.read_audio(0.1)
            self.events += events
            self.digits += self._dtmf.feed(events)
            self.received.append(samples)
            self.detector.feed(samples, events)
            pending = np.concatenate([pending, samples])
            while len(pending) >= pcm.FRAME_SAMPLES:
                pending = pending[pcm.FRAME_SAMPLES:]
                frame = self.outgoing[self._sent:self._sent + pcm.FRAME_SAMPLES]
                self._sent += len(frame)
                if len(frame) < pcm.FRAME_SAMPLES:
                    frame = np.concatenate([frame, pcm.silence(pcm.FRAME_SAMPLES - len(frame))])
                if not self.modem.stream_ended:
                    self.modem.write_audio(frame)

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.received) if self.received else np.zeros(0, np.int16)


@pytest.mark.parametrize("dialect,code", [("conexant", 1), ("usr", 128)])
def test_open_identifies_the_simulated_modem(line, dialect, code):
    sim, modem = line(dialect)
    info = modem.open()
    assert info.dialect == dialect and info.vsm_code == code and info.sample_format == pcm.U8


def test_whole_call_caller_id_keys_prompt_and_busy_hangup(line):
    sim, modem = line()
    modem.open()
    call = SimCall(number="5551234567", name="DOE JOHN", ring_period=RING_PERIOD,
                   steps=[Wait(0.3), Press("42", gap=0.2), Wait(0.8), HangUp("busy")])
    handle = sim.place_call(call)
    incoming = modem.wait_for_call(2, threading.Event())
    assert incoming.rings == 2
    assert (incoming.caller.number, incoming.caller.name) == ("5551234567", "DOE JOHN")
    modem.answer()
    assert handle.answered.wait(2)
    modem.start_duplex()
    prompt = pcm.tone(1000, 1.0, amplitude=0.5)
    runner = CallRunner(modem, prompt)
    runner.run(lambda r: r.detector.reason is not None, timeout=6)
    assert runner.digits == ["4", "2"]
    assert runner.detector.reason == "busy_tone"
    modem.stop_duplex()
    modem.hang_up()
    assert handle.done.wait(3)
    heard = handle.heard
    assert pcm.level_at(heard, 1000) > 0.2  # the caller heard the prompt
    assert handle.outcome == "hung_up"


@pytest.mark.parametrize("number,status", [(None, "none"), ("P", "private"),
                                           ("O", "unavailable")])
def test_caller_id_variants(line, number, status):
    sim, modem = line()
    modem.open()
    handle = sim.place_call(SimCall(number=number, name=None, ring_period=RING_PERIOD,
                                    max_rings=3))
    incoming = modem.wait_for_call(2, threading.Event())
    assert incoming.caller.status == status and incoming.caller.number is None
    handle.done.wait(5)


def test_uk_caller_id_before_the_first_ring_usr(line):
    sim, modem = line("usr")
    modem.open()
    sim.place_call(SimCall(number="01632960123", name=None, cid_before_first_ring=True,
                           ring_period=RING_PERIOD, max_rings=3))
    incoming = modem.wait_for_call(1, threading.Event())
    assert incoming.cid_before_first_ring and incoming.caller.number == "01632960123"


def test_caller_giving_up_resets_the_ring_count(line):
    sim, modem = line()
    modem.open()
    first = sim.place_call(SimCall(number="5550001", ring_period=RING_PERIOD, max_rings=2))
    stop = threading.Event()
    result: list = []
    waiter = threading.Thread(target=lambda: result.append(modem.wait_for_call(3, stop)))
    waiter.start()
    try:
        assert first.done.wait(5) and first.outcome == "gave_up"
        assert not result  # two rings were not enough
        time.sleep(modem.ring_gap + 0.2)  # scenario pacing: the quiet time before the next call
        second = sim.place_call(SimCall(number="5550002", ring_period=RING_PERIOD, max_rings=5))
        waiter.join(10)
        assert result and result[0].caller.number == "5550002" and result[0].rings == 3
    finally:
        stop.set()
        waiter.join(5)
    modem.answer()
    modem.hang_up()
    assert second.done.wait(5)


def test_caller_audio_arrives_and_silence_is_detected(line):
    sim, modem = line()
    modem.open()
    handle = sim.place_call(SimCall(ring_period=RING_PERIOD, steps=[
        Tone(700, 0.5), Talk(0.5, hz=600.0), HangUp("silence")]))
    modem.wait_for_call(1, threading.Event())
    modem.answer()
    modem.start_duplex()
    runner = CallRunner(modem, silence_s=1.0)
    runner.run(lambda r: r.detector.reason is not None, timeout=8)
    assert runner.detector.reason == "silence"
    assert pcm.level_at(runner.audio, 700) > 0.05
    modem.stop_duplex()
    modem.hang_up()
    assert handle.done.wait(3)


def test_await_answer_is_released_by_the_harness(line):
    sim, modem = line()
    modem.open()
    handle = sim.place_call(SimCall(ring_period=RING_PERIOD, steps=[
        AwaitAnswer(5), Talk(0.4, hz=600.0), HangUp("dial")]))
    modem.wait_for_call(1, threading.Event())
    modem.answer()
    modem.start_duplex()
    handle.staff_connected.set()
    runner = CallRunner(modem)
    runner.run(lambda r: r.detector.reason is not None, timeout=6)
    assert runner.detector.reason == "dial_tone"
    assert pcm.level_at(runner.audio, 600) > 0.02
    modem.stop_duplex()
    modem.hang_up()


def test_failing_command_fault_names_it(line):
    sim, modem = line(faults={"error_on": "AT+VCID=1"})
    with pytest.raises(ModemError) as err:
        modem.open()
    assert err.value.command == "AT+VCID=1"
    assert "ERROR to AT+VCID=1 (caller ID on)" in str(err.value)


def test_simulator_stopping_mid_call_is_modem_gone(line):
    sim, modem = line()
    modem.open()
    sim.place_call(SimCall(ring_period=RING_PERIOD, steps=[Talk(5.0)]))
    modem.wait_for_call(1, threading.Event())
    modem.answer()
    modem.start_duplex()
    modem.read_audio(0.2)
    sim.stop()
    with pytest.raises(ModemGone):
        for _ in range(100):
            modem.read_audio(0.05)


FAST_RINGBACK = {"rings": 1, "ring_period": 0.3}


@pytest.mark.parametrize("dialect,behaviour,reason", [
    ("conexant", "busy", "busy"), ("usr", "no_dial_tone", "no_dial_tone"),
    ("conexant", "no_answer", "no_answer"), ("conexant", "answer", "presumed_answered")])
def test_dial_outcomes(line, dialect, behaviour, reason):
    sim, modem = line(dialect, dial_timeout=15, ringback_quiet_s=0.5)
    modem.open()
    sim.outbound_behaviour["5551234"] = dict(FAST_RINGBACK, result=behaviour)
    outcome = modem.dial("555-1234")
    assert outcome.reason == reason and modem.off_hook == (reason == "presumed_answered")
    if modem.off_hook:
        modem.start_duplex()
        modem.read_audio(0.1)
        modem.stop_duplex()
        modem.hang_up()
        assert not modem.off_hook
    # Either way the line is idle again and still takes calls.
    sim.place_call(SimCall(number="5550009", ring_period=RING_PERIOD, max_rings=3))
    assert modem.wait_for_call(1, threading.Event()).rings == 1


def test_dialled_person_talking_confirms_the_answer(line):
    sim, modem = line(dial_timeout=15, ringback_quiet_s=0.5)
    modem.open()
    sim.outbound_behaviour["5551234"] = dict(FAST_RINGBACK, result="answer",
                                             steps=[Talk(2.0, hz=500.0)])
    assert modem.dial("5551234").presumed_answered
    modem.start_duplex()
    assert modem.confirm_answered(3.0) is True
    modem.stop_duplex()
    modem.hang_up()


def test_slow_modem_answers_are_waited_for_then_reported(line):
    sim, modem = line(faults={"delay_on": {"ATM0": 3.0}}, timeout=0.3)
    with pytest.raises(ModemError) as err:
        modem.open()
    assert "did not answer ATM0 (speaker off)" in str(err.value)


def test_truncated_answers_are_retried(line):
    sim, modem = line(faults={"truncate_on": "AT+GCI=B5"}, timeout=0.3)
    with pytest.raises(ModemError) as err:  # cut short every time: named after 3 tries
        modem.open()
    assert err.value.command == "AT+GCI=B5" and "3 tries" in str(err.value)


def test_stuck_stream_is_ended_by_closing_the_port(line):
    sim, modem = line(faults={"stuck_stream": True}, stop_timeout=0.5)
    modem.open()
    handle = sim.place_call(SimCall(ring_period=RING_PERIOD, steps=[Talk(10.0)]))
    modem.wait_for_call(1, threading.Event())
    modem.answer()
    modem.start_duplex()
    modem.read_audio(0.2)
    modem.stop_duplex()
    assert modem.dtr_drops == 1 and not modem.off_hook and not modem.streaming
    assert handle.done.wait(3)  # the DTR drop hung up on the caller
    sim.place_call(SimCall(number="5550010", ring_period=RING_PERIOD, max_rings=3))
    assert modem.wait_for_call(2, threading.Event()).caller.number == "5550010"


def test_modem_resetting_on_off_hook_is_reported(line):
    sim, modem = line(faults={"reset_on": "AT+VLS=1"}, timeout=0.5)
    modem.open()
    sim.place_call(SimCall(ring_period=RING_PERIOD, max_rings=20))
    modem.wait_for_call(1, threading.Event())
    with pytest.raises(ModemError) as err:
        modem.answer()
    assert err.value.command == "AT+VLS=1" and modem.resets_seen >= 1


def test_a_call_survives_garbage_stray_and_split_dle(line):
    sim, modem = line(faults={"garbage_idle": 3.0, "garbage_stream": 5.0, "stray_dle": 5.0,
                              "split_dle": True, "seed": 7})
    modem.open()
    handle = sim.place_call(SimCall(number="5551234567", ring_period=RING_PERIOD, steps=[
        Wait(0.2), Press("19", gap=0.2), Talk(0.5, hz=600.0), HangUp("busy")]))
    incoming = modem.wait_for_call(2, threading.Event())
    assert incoming.caller.number == "5551234567"
    modem.answer()
    modem.start_duplex()
    runner = CallRunner(modem, pcm.tone(800, 1.0, amplitude=0.5))
    runner.run(lambda r: r.detector.reason is not None, timeout=6)
    assert runner.digits == ["1", "9"] and runner.detector.reason == "busy_tone"
    modem.stop_duplex()
    modem.hang_up()
    assert handle.done.wait(3)


def test_tones_are_played_before_ok(line):
    sim, modem = line()
    modem.open()
    handle = sim.place_call(SimCall(ring_period=RING_PERIOD, steps=[Wait(3.0)]))
    modem.wait_for_call(1, threading.Event())
    modem.answer()
    modem.send_tones("[900,900,30]")
    modem.hang_up()
    assert handle.done.wait(3)
