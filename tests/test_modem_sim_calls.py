"""Simulated calls through the simulator's pty with real pyserial: rings and caller ID per
dialect and country, answering, streaming in real time in both directions, the caller's
steps, the line's hang-up signals, and the call handle's outcome."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest
import serial

from appliance import pcm
from appliance.modem_sim import (AwaitAnswer, HangUp, ModemSimulator, Press, Say, SimCall, Talk,
                                 Tone, Wait)
from tests.test_modem_sim_helpers import (Port, assert_idle_in_class_0, decode_stream,  # noqa: F401
                                          dialect, go_voice, port, read_stream,
                                          read_stream_until, sim)

WHEN = dt.datetime(2025, 7, 31, 10, 30)


def ring_in(port: Port, sim: ModemSimulator, call: SimCall):
    port.command("ATE0")
    port.command("AT+VCID=1")
    handle = sim.place_call(call)
    port.read_until(b"\r\nRING\r\n")
    return handle


def answer(port: Port, sim: ModemSimulator, dialect: str, call: SimCall):
    handle = ring_in(port, sim, call)
    go_voice(port, dialect)
    port.command("AT+VLS=1")
    assert handle.answered.wait(1)
    return handle


# ------------------------------------------------------------------ rings and caller ID

@pytest.mark.parametrize("dialect,sep", [("conexant", " = "), ("usr", "=")])
def test_caller_id_arrives_between_ring_1_and_ring_2_in_the_dialects_spelling(port, sim, sep):
    port.command("ATE0")
    port.command("AT+VCID=1")
    handle = sim.place_call(SimCall(ring_period=0.5, when=WHEN, max_rings=2))
    got = port.read_until(b"RING\r\n") + port.read_until(b"RING\r\n")
    cid = (f"\r\nDATE{sep}0731\r\nTIME{sep}1030\r\nNMBR{sep}5551234567\r\n"
           f"NAME{sep}DOE JOHN\r\n")
    assert got == b"\r\nRING\r\n" + cid.encode() + b"\r\nRING\r\n"
    assert handle.done.wait(2)
    assert handle.outcome == "gave_up"
    assert handle.rings == 2


def test_uk_caller_id_comes_before_the_first_ring_without_a_name(port, sim):
    port.command("ATE0")
    port.command("AT+VCID=1")
    call = SimCall.for_country("UK", ring_period=0.4, when=WHEN, max_rings=1)
    assert call.cid_before_first_ring and call.ring_period == 0.4
    sim.place_call(call)
    got = port.read_until(b"RING\r\n")
    sep = " = " if sim.dialect == "conexant" else "="
    assert got == (f"\r\nDATE{sep}0731\r\nTIME{sep}1030\r\nNMBR{sep}5551234567\r\n"
                   f"\r\nRING\r\n").encode()
    assert SimCall.for_country("us").ring_period == 6.0
    with pytest.raises(ValueError, match="No ringing pattern for country 'XX'"):
        SimCall.for_country("XX")


@pytest.mark.parametrize("number,name,variant,lines", [
    ("P", "DOE JOHN", "full", ["DATE = 0731", "TIME = 1030", "NMBR = P", "NAME = P"]),
    ("O", None, "full", ["DATE = 0731", "TIME = 1030", "NMBR = O", "NAME = O"]),
    ("5551234567", None, "full", ["DATE = 0731", "TIME = 1030", "NMBR = 5551234567"]),
    ("5551234567", "DOE JOHN", "date_time_only", ["DATE = 0731", "TIME = 1030"]),
    ("5551234567", "DOE JOHN", "ddn_nmbr", ["DATE = 0731", "TIME = 1030",
                                            "DDN_NMBR = 5551234567", "NAME = DOE JOHN"]),
    ("5551234567", "DOE JOHN", "second_nmbr_o", ["DATE = 0731", "TIME = 1030",
                                                 "NMBR = 5551234567", "NMBR = O",
                                                 "NAME = DOE JOHN"]),
    ("5551234567", "A VERY LONG NAME INDEED", "full",
     ["DATE = 0731", "TIME = 1030", "NMBR = 5551234567", "NAME = A VERY LONG NAM"]),
])
@pytest.mark.parametrize("dialect", ["conexant"])
def test_caller_id_variants(port, sim, number, name, variant, lines):
    port.command("ATE0")
    port.command("AT+VCID=1")
    sim.place_call(SimCall(number=number, name=name, cid_variant=variant, ring_period=0.4,
                           when=WHEN, max_rings=2))
    port.read_until(b"\r\nRING\r\n")
    between = port.read_until(b"\r\nRING\r\n")[:-len(b"\r\nRING\r\n")]
    assert between.decode().split("\r\n")[1:-1] == lines


def test_no_caller_id_service_and_caller_id_switched_off_give_only_rings(port, sim):
    port.command("ATE0")
    port.command("AT+VCID=1")
    h1 = sim.place_call(SimCall(number=None, ring_period=0.3, max_rings=3))
    assert port.read_until(b"RING\r\n" * 1) and h1.done.wait(3)
    rest = port.read_for(0.1)
    assert b"NMBR" not in rest and rest.count(b"RING") == 2
    port.command("AT+VCID=0")
    h2 = sim.place_call(SimCall(ring_period=0.3, max_rings=2))
    assert h2.done.wait(3)
    assert port.read_for(0.1) == b"\r\nRING\r\n\r\nRING\r\n"
    assert h2.outcome == "gave_up"


def test_unformatted_caller_id_is_an_mdmf_packet_in_hex(port, sim):
    port.command("ATE0")
    port.command("AT+VCID=2")
    sim.place_call(SimCall(ring_period=0.4, when=WHEN, max_rings=2))
    port.read_until(b"\r\nRING\r\n")
    line = port.read_until(b"\r\nRING\r\n").split(b"\r\n")[1]
    packet = bytes.fromhex(line.decode())
    assert packet[0] == 0x80 and packet[1] == len(packet) - 3
    assert sum(packet) % 256 == 0  # checksum
    assert b"07311030" in packet and b"5551234567" in packet and b"DOE JOHN" in packet


def test_rings_in_class_8_on_hook_are_dle_r(port, sim):
    port.command("ATE0")
    port.command("AT+FCLASS=8")
    handle = sim.place_call(SimCall(ring_period=0.3, max_rings=2, number=None))
    assert handle.done.wait(3)
    assert port.read_for(0.1) == b"\x10R\x10R"


def test_a_second_call_while_one_is_in_progress_is_refused(port, sim):
    sim.place_call(SimCall(ring_period=0.3, max_rings=2))
    with pytest.raises(RuntimeError, match="already has a call in progress"):
        sim.place_call(SimCall())


def test_auto_answer_answers_as_a_data_modem_and_the_voice_caller_hangs_up(port, sim):
    port.command("ATE0")
    port.command("ATS0=1")
    handle = sim.place_call(SimCall(ring_period=0.3, number=None))
    port.read_until(b"\r\nRING\r\n")
    port.read_until(b"\r\nNO CARRIER\r\n", timeout=4)
    assert handle.done.is_set() and handle.outcome == "hung_up"
    assert not handle.answered.is_set()


# ------------------------------------------------------------------ a whole call

def test_full_scripted_call_rings_answers_streams_dtmf_and_loop_drop(port, sim, dialect):
    call = SimCall(ring_period=0.3, when=WHEN, steps=[
        Wait(0.2), Press("5"), Press("#", gap=0.1), Talk(0.6, hz=600), Wait(0.2),
        HangUp("loop" if dialect == "conexant" else "polarity")])
    handle = ring_in(port, sim, call)
    cid = port.read_until(b"NAME" + (b" = " if dialect == "conexant" else b"=") + b"DOE JOHN\r\n")
    assert b"5551234567" in cid
    go_voice(port, dialect)
    port.command("AT+VLS=1")
    assert handle.answered.wait(1)
    port.command("AT+VTR", final="CONNECT")
    started = time.monotonic()
    raw = b""
    stop_code = "l" if dialect == "conexant" else "L"
    sent = 0
    while stop_code not in decode_stream(raw)[1]:
        assert time.monotonic() - started < 5, decode_stream(raw)[1]
        raw += port.read_for(0.02)
        due = int((time.monotonic() - started) * 8000) + 800  # real time, 100 ms ahead
        port.send(b"\x80" * (due - sent))
        sent = due
    elapsed = time.monotonic() - started
    audio, events, _ = decode_stream(raw)
    assert events == ["/", "5", "~", "/", "#", "~", stop_code]
    # Paced at 8000 samples/s: about elapsed x 8000 bytes of 8-bit audio, generously.
    assert 0.6 * 8000 * elapsed < len(audio) < 1.4 * 8000 * elapsed + 800
    samples = pcm.decode(pcm.U8, audio)
    assert pcm.rms(samples) > 500  # DTMF and the talk tone
    assert handle.caller_hung_up.is_set() and handle.outcome == "hung_up"
    assert not handle.done.is_set()  # the call is over only once the host hangs up
    port.send(b"\x10^")
    tail = port.read_until(b"\x10\x03\r\nOK\r\n")
    assert tail.endswith(b"\x10\x03\r\nOK\r\n")
    port.command("AT+VLS=0")
    assert handle.done.wait(1) and handle.outcome == "hung_up"
    heard = handle.heard
    assert len(heard) > 0 and np.all(heard == pcm.decode(pcm.U8, b"\x80"))
    texts = [text for _, text in handle.events]
    assert "answered (modem off-hook)" in texts and "caller pressed 5" in texts


@pytest.mark.parametrize("dialect", ["usr"])
def test_usr_loop_drop_is_silent_then_dial_tone(port, sim, dialect):
    handle = answer(port, sim, dialect, SimCall(ring_period=0.3, line_dead_s=0.3,
                                                steps=[Wait(0.1), HangUp("loop")]))
    port.command("AT+VRX", final="CONNECT")
    audio, events = read_stream_until(port, "d", timeout=3)
    assert "l" not in events and "L" not in events
    assert handle.outcome == "hung_up"
    port.send(b"\x10!")
    port.read_until(b"\x10\x03\r\nOK\r\n")


@pytest.mark.parametrize("how,code", [("busy", "b"), ("dial", "d"), ("polarity", "L")])
def test_hang_up_signals_in_the_stream(port, sim, dialect, how, code):
    handle = answer(port, sim, dialect, SimCall(ring_period=0.3,
                                                steps=[Wait(0.1), HangUp(how)]))
    port.command("AT+VRX", final="CONNECT")
    audio, events = read_stream_until(port, code, timeout=3)
    assert handle.caller_hung_up.is_set()
    if how == "busy":
        audio, more = read_stream(port, 1.1)  # busy bursts repeat each second
        assert more.count("b") >= 1
        tones = pcm.decode(pcm.U8, audio)
        assert pcm.level_at(tones, 480) > 0.02 and pcm.level_at(tones, 620) > 0.02


def test_silence_hang_up_gives_dle_s_on_usr_only(port, sim, dialect):
    handle = answer(port, sim, dialect, SimCall(ring_period=0.3,
                                                steps=[Talk(0.2), HangUp("silence")]))
    port.command("AT+VSD=128,5")  # 0.5 s of quiet
    port.command("AT+VRX", final="CONNECT")
    if dialect == "usr":
        audio, events = read_stream_until(port, "s", timeout=3)
        assert events.count("s") == 1
    else:
        audio, events = read_stream(port, 1.5)  # Zoom/Conexant: accepted, never fires
        assert "s" not in events
    samples = pcm.decode(pcm.U8, audio)[-4000:]
    assert 0 < pcm.rms(samples) < 600  # quiet line noise, not digital silence
    assert handle.outcome == "hung_up"


def test_the_line_is_never_digital_silence(port, sim, dialect):
    answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Wait(5)]))
    port.command("AT+VSM=131,8000,0,0" if dialect == "conexant" else "AT+VSM=131,8000")
    port.command("AT+VRX", final="CONNECT")
    audio, events = read_stream(port, 0.5)
    samples = pcm.decode(pcm.ULAW, audio)
    assert len(set(audio)) > 3 and 5 < pcm.rms(samples) < 300


@pytest.mark.parametrize("hz,code", [(1100, "c"), (1300, "e"), (2100, "a")])
def test_fax_and_data_calling_tones_are_reported(port, sim, dialect, hz, code):
    answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[
        Tone(hz, 0.5), Wait(0.3), Tone(hz, 0.5), Wait(3)]))
    port.command("AT+VRX", final="CONNECT")
    audio, events = read_stream(port, 1.5)
    assert events.count(code) == 2
    assert pcm.level_at(pcm.decode(pcm.U8, audio), hz) > 0.05


def test_repeated_dtmf_digits_inside_one_group(port, sim, dialect):
    call = SimCall(ring_period=0.3, dtmf_repeats=3, steps=[Press("7"), Wait(3)])
    answer(port, sim, dialect, call)
    port.command("AT+VRX", final="CONNECT")
    audio, events = read_stream_until(port, "~")
    assert events == ["/", "7", "7", "7", "~"]


def test_dtmf_is_reported_in_command_state_once_the_caller_has_started(port, sim, dialect):
    answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Wait(0.4), Press("9"), Wait(3)]))
    port.command("AT+VRX", final="CONNECT")
    port.send(b"\x10!")
    port.read_until(b"\x10\x03\r\nOK\r\n")  # voice command state, still off-hook
    assert port.read_until(b"\x10~", timeout=2) == b"\x10/\x109\x10~"


def test_ulaw_stream_carries_the_callers_talk_tone(port, sim, dialect):
    answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Talk(3, hz=1000)]))
    port.command("AT+VSM=131,8000,0,0" if dialect == "conexant" else "AT+VSM=131,8000")
    port.command("AT+VTR", final="CONNECT")
    audio, _ = read_stream(port, 0.6)
    samples = pcm.decode(pcm.ULAW, audio)
    assert pcm.level_at(samples[800:], 1000) > 0.2


def test_conexant_sometimes_sends_dle_sub_for_two_data_0x10_bytes(port, sim, dialect):
    loud = np.full(1600, -28672, dtype=np.int16)  # u8 0x10
    answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Say(loud), Wait(3)]))
    port.command("AT+VRX", final="CONNECT")
    raw = port.read_for(0.5)
    audio, events, _ = decode_stream(raw)
    assert audio.count(0x10) >= 1000 and events == []
    if dialect == "conexant":
        assert b"\x10\x1a" in raw and b"\x10\x10\x10\x10" in raw
    else:
        assert b"\x10\x1a" not in raw


# ------------------------------------------------------------------ host -> caller audio

def test_transmitted_audio_is_unshielded_and_heard_exactly_then_ok_after_playout(
        port, sim, dialect):
    handle = answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Wait(10)]))
    port.command("AT+VTX", final="CONNECT")
    sent = bytes(range(256)) * 16  # 4096 samples, 0.5 s, every byte value including 0x10
    port.send(sent.replace(b"\x10", b"\x10\x10") + b"\x10\x03")
    port.read_until(b"\r\nOK\r\n", timeout=3)
    heard = handle.heard
    assert len(heard) == len(sent)  # OK came only after everything was played
    assert np.array_equal(heard, pcm.decode(pcm.U8, sent))
    port.command("AT+VRX", final="CONNECT")
    port.send(b"\x10!")
    assert port.read_until(b"\r\nOK\r\n").endswith(b"\x10\x03\r\nOK\r\n")


def test_underrun_is_reported_when_the_host_stops_feeding(port, sim, dialect):
    answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Wait(10)]))
    port.command("AT+VTR", final="CONNECT")
    _, events = read_stream(port, 0.2)
    assert "u" not in events  # nothing was sent yet: nothing ran dry
    port.send(b"\x80" * 2400)  # 0.3 s, then silence from the host
    audio, events = read_stream_until(port, "u", timeout=2)
    assert events.count("u") == 1
    port.send(b"\x10^")
    port.read_until(b"\x10\x03\r\nOK\r\n")


def test_a_host_writing_far_ahead_is_held_back(port, sim, dialect):
    answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Wait(10)]))
    port.command("AT+VTX", final="CONNECT")
    port.ser.write_timeout = 0.5
    with pytest.raises(serial.SerialTimeoutException):
        port.ser.write(b"\x80" * 200_000)  # 25 s of audio cannot be taken in at once


def test_dle_can_clears_what_was_not_played_yet(port, sim, dialect):
    handle = answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Wait(10)]))
    port.command("AT+VTX", final="CONNECT")
    port.send(b"\x80" * 4000 + b"\x10\x18" + b"\x10\x03")
    port.read_until(b"\r\nOK\r\n", timeout=2)
    assert len(handle.heard) < 4000


# ------------------------------------------------------------------ who ends the call

def test_host_hanging_up_first_is_engine_hung_up(port, sim, dialect):
    handle = answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Talk(10)]))
    port.command("AT+VTR", final="CONNECT")
    read_stream(port, 0.2)
    port.send(b"\x10^")
    port.read_until(b"\x10\x03\r\nOK\r\n")
    port.command("ATH")
    assert handle.done.wait(1) and handle.outcome == "engine_hung_up"
    assert not handle.caller_hung_up.is_set()


def test_closing_the_port_mid_call_hangs_up(sim, dialect):
    port = Port(sim.port)
    try:
        handle = answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Talk(10)]))
        port.command("AT+VTR", final="CONNECT")
        read_stream(port, 0.1)
    finally:
        port.close()
    assert handle.done.wait(2) and handle.outcome == "engine_hung_up"
    assert_idle_in_class_0(sim)


def test_await_answer_waits_for_staff_and_gives_up_after_its_timeout(port, sim, dialect):
    handle = answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[
        AwaitAnswer(timeout=5), Talk(0.3, hz=700), HangUp("dial")]))
    port.command("AT+VRX", final="CONNECT")
    audio, events = read_stream(port, 0.4)
    assert "d" not in events and pcm.level_at(pcm.decode(pcm.U8, audio), 700) < 0.02
    handle.staff_connected.set()
    audio, events = read_stream_until(port, "d", timeout=3)
    assert pcm.level_at(pcm.decode(pcm.U8, audio), 700) > 0.05
    port.send(b"\x10!")
    port.read_until(b"\r\nOK\r\n")
    port.command("ATH")
    assert handle.done.wait(1) and handle.outcome == "hung_up"


def test_await_answer_timeout_makes_the_caller_hang_up(port, sim, dialect):
    handle = answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[
        AwaitAnswer(timeout=0.3), Talk(5), HangUp("busy")]))
    port.command("AT+VRX", final="CONNECT")
    read_stream_until(port, "b", timeout=3)
    assert handle.outcome == "hung_up"
    assert any("nobody answered" in text for _, text in handle.events)


# ------------------------------------------------------------------ bad scripts

@pytest.mark.parametrize("make,message", [
    (lambda: SimCall(number="555-1234"), "digits only"),
    (lambda: SimCall(ring_period=0), "Ring period must be a number of seconds above 0"),
    (lambda: SimCall(max_rings=0), "max_rings must be a whole number of at least 1"),
    (lambda: SimCall(steps=["press 1"]), "is not a caller step"),
    (lambda: SimCall(cid_variant="fancy"), "Caller ID variant 'fancy' is not known"),
    (lambda: Press("1x"), "'X' is not a telephone key"),
    (lambda: Press(""), "Press needs at least one key"),
    (lambda: Wait(-1), "Wait must be a number of seconds"),
    (lambda: HangUp("slam"), "HangUp how='slam' is not known"),
    (lambda: Tone(20000, 1), "Tone frequency must be between 50 and 3400 Hz"),
    (lambda: Say(np.zeros(10)), "Say needs mono 16-bit samples"),
])
def test_bad_call_scripts_are_explained(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_at_text_sent_during_a_stream_is_swallowed(port, sim, dialect):
    answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Talk(10)]))
    port.command("AT+VRX", final="CONNECT")
    port.send(b"ATH\rAT+VLS=0\r")
    audio, events = read_stream(port, 0.4)
    assert b"OK" not in audio and "ETX" not in events and len(audio) > 2000
    port.send(b"\x10!")
    port.read_until(b"\x10\x03\r\nOK\r\n")
    assert port.info("AT+VLS?") == ["1"]  # the swallowed commands did nothing


def test_inactivity_timer_ends_the_stream_and_drops_the_line(port, sim, dialect):
    handle = answer(port, sim, dialect, SimCall(ring_period=0.3, steps=[Talk(10)]))
    port.command("AT+VIT=1")
    port.command("AT+VRX", final="CONNECT")
    port.read_until(b"\x10\x03\r\nOK\r\n", timeout=3)
    assert handle.done.wait(1) and handle.outcome == "engine_hung_up"
    assert port.info("AT+FCLASS?") == ["0"]
