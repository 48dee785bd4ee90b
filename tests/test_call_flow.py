"""One call end to end: simulated line -> menu -> queue -> staff headset -> call log.

Real pyserial on a pty with the V.253 simulator, real PortAudio on virtual ALSA headsets,
real SQLite, real gpiozero mock pins; the engine is the production engine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance import pcm
from appliance.modem_sim import AwaitAnswer, HangUp, Press, SimCall, Talk, Wait
from tests.engine_fixtures import (CALLER_HZ, STAFF_HZ, engine, line_state, lines_ready,  # noqa: F401
                                   make_config, read_recording, staff_state, start_engine,
                                   wait_call_ended, wait_for)


def place(engine, line: str, steps, number="5551234567", name="DOE JOHN"):
    sim = engine.simulator(line)
    handle = sim.place_call(SimCall(number=number, name=name, steps=steps, ring_period=0.4))
    engine._sim_handles[line] = handle
    return handle


def test_a_call_reaches_a_headset_is_recorded_and_logged(engine):
    result = engine.test_call("line1", number="5551234567", name="DOE JOHN", keys="1",
                              talk_s=2.0)
    assert result["ok"], result
    handle = engine.sim_handle("line1")
    row = wait_call_ended(engine, handle)

    assert row["caller_number"] == "5551234567"
    assert row["caller_name"] == "DOE JOHN"
    assert row["menu_key"] == "1"
    assert row["queue"] == "sales"
    assert row["staff_id"] in ("alice", "carol")  # the sales skill
    assert row["outcome"] == "answered"
    assert row["hangup_signal"] == "loop_drop"
    assert row["arrived_at"] <= row["answered_at"] <= row["queued_at"] \
        <= row["staff_answered_at"] <= row["ended_at"]
    assert 1.5 <= row["talk_s"] <= 6.0
    assert row["wait_s"] >= 0.4  # the simulated staff member picks up after 0.5 s

    kinds = [e["kind"] for e in engine.store.call_events(row["id"])]
    for kind in ("arrived", "caller_id", "answered", "dtmf", "queued", "offered",
                 "staff_answered", "ended"):
        assert kind in kinds, kinds

    # The recording holds both sides: the caller's tone left, the staff member's tone right.
    caller, staff = read_recording(engine.cfg.recordings_dir / row["recording"])
    staff_hz = STAFF_HZ[row["staff_id"]]
    talk = slice(len(caller) - int(1.5 * 8000), len(caller) - int(0.2 * 8000))
    assert pcm.level_at(caller[talk], CALLER_HZ) > 0.05
    assert pcm.level_at(staff[talk], staff_hz) > 0.05
    other = [hz for sid, hz in STAFF_HZ.items() if sid != row["staff_id"]]
    assert all(pcm.level_at(staff[talk], hz) < 0.02 for hz in other)

    # Audio flowed both ways: the caller heard the staff member, the headset heard the caller.
    assert pcm.level_at(handle.heard[-int(1.5 * 8000):], staff_hz) > 0.05
    from appliance.virtual_audio import earpiece_samples

    headset = next(s.headset for s in engine.cfg.staff if s.id == row["staff_id"])
    ear = earpiece_samples(engine.cfg.audio_home, headset, 8000)
    assert pcm.level_at(ear[-int(1.0 * 8000):], CALLER_HZ) > 0.02
    # Before that, the headset rang: the ring tone (400 + 450 Hz) came first.
    before_talk = ear[:len(ear) - int(row["talk_s"] * 8000)]
    assert pcm.level_at(before_talk, 400.0) > 0.01 and pcm.level_at(before_talk, 450.0) > 0.01
    assert pcm.level_at(before_talk, CALLER_HZ) < 0.01

    state = wait_for(engine, lambda s: line_state(s, "line1") == "idle", what="line idle")
    assert staff_state(state, row["staff_id"]) == "available"


def test_caller_hangs_up_in_the_menu(engine):
    handle = place(engine, "line1", [Wait(1.0), HangUp("loop")])
    row = wait_call_ended(engine, handle)
    assert row["outcome"] == "abandoned_in_menu"
    assert row["queue"] is None and row["staff_id"] is None
    wait_for(engine, lambda s: line_state(s, "line1") == "idle", what="line idle")


def test_caller_hangs_up_while_waiting_and_nobody_is_rung(engine):
    for sid in ("alice", "carol"):
        assert engine.set_staff_state(sid, "break")["ok"]
    handle = place(engine, "line1", [Wait(0.3), Press("1"), Wait(1.5), HangUp("busy")])
    row = wait_call_ended(engine, handle)
    assert row["outcome"] == "abandoned_in_queue"
    assert row["hangup_signal"] == "busy_tone"
    assert row["queue"] == "sales" and row["staff_id"] is None
    state = wait_for(engine, lambda s: line_state(s, "line1") == "idle", what="line idle")
    assert next(q for q in state["queues"] if q["name"] == "sales")["waiting"] == 0


def test_caller_hangs_up_while_the_headset_rings(tmp_path):
    eng = start_engine(make_config(tmp_path, answer_after_s=None))
    try:
        wait_for(eng, lines_ready, what="lines ready")
        handle = place(eng, "line1", [Wait(0.3), Press("2"), Wait(1.5), HangUp("loop")])
        wait_for(eng, lambda s: staff_state(s, "bob") == "ringing" or
                 staff_state(s, "carol") == "ringing", what="a support headset ringing")
        row = wait_call_ended(eng, handle)
        assert row["outcome"] == "abandoned_while_ringing"
        state = wait_for(eng, lambda s: line_state(s, "line1") == "idle", what="line idle")
        assert staff_state(state, "bob") == "available"
        assert staff_state(state, "carol") == "available"
    finally:
        eng.stop()


def test_nobody_available_then_offered_as_soon_as_someone_is(engine):
    for sid in ("alice", "carol"):
        engine.set_staff_state(sid, "break")
    handle = place(engine, "line1", [Wait(0.3), Press("1"), AwaitAnswer(timeout=30),
                                     Talk(1.0, hz=CALLER_HZ), HangUp("loop")])
    wait_for(engine, lambda s: next(q for q in s["queues"] if q["name"] == "sales")["waiting"]
             == 1, what="the caller waiting in sales")
    assert engine.set_staff_state("alice", "available")["ok"]
    row = wait_call_ended(engine, handle)
    assert row["outcome"] == "answered"
    assert row["staff_id"] == "alice"


def test_a_modem_answering_error_to_init_is_a_visible_line_fault(tmp_path, caplog):
    cfg = make_config(tmp_path)
    cfg.lines[1].sim_faults = {"error_on": "AT+VCID=1"}
    eng = start_engine(cfg)
    try:
        state = wait_for(eng, lambda s: line_state(s, "line2") == "fault"
                         and line_state(s, "line1") == "idle", what="line 2 in fault")
        line2 = next(l for l in state["lines"] if l["id"] == "line2")
        assert "AT+VCID=1" in line2["fault"]
        fault = next(l for l in state["lights"] if l["name"] == "fault")
        assert fault["lit"] and fault["mode"] == "on"
        assert any("AT+VCID=1" in r.getMessage() for r in caplog.records)
        # Line 1 still takes calls.
        assert eng.test_call("line1", keys="2", talk_s=0.5)["ok"]
        row = wait_call_ended(eng, eng.sim_handle("line1"))
        assert row["outcome"] == "answered"
    finally:
        eng.stop()


def test_lights_follow_the_lines(engine):
    state = engine.snapshot()
    lights = {l["name"]: l for l in state["lights"]}
    assert lights["power"]["lit"]
    assert not lights["fault"]["lit"] and not lights["line1"]["lit"]


def test_a_headset_nobody_answers_passes_the_call_on(tmp_path):
    cfg = make_config(tmp_path, offer_timeout_s=1.0)
    next(s for s in cfg.staff if s.id == "alice").answer_after_s = None  # Alice is away
    eng = start_engine(cfg)
    try:
        wait_for(eng, lines_ready, what="lines ready")
        eng.set_staff_state("carol", "break")
        handle = place(eng, "line1", [Wait(0.3), Press("1"), AwaitAnswer(timeout=30),
                                      Talk(0.5, hz=CALLER_HZ), HangUp("loop")])
        wait_for(eng, lambda s: staff_state(s, "alice") == "ringing", what="Alice's headset")
        assert eng.set_staff_state("carol", "available")["ok"]
        row = wait_call_ended(eng, handle)
        assert row["outcome"] == "answered" and row["staff_id"] == "carol"
        offers = [e["detail"] for e in eng.store.call_events(row["id"]) if e["kind"] == "offered"]
        assert offers == ["alice", "carol"]
        alice = next(s for s in eng.snapshot()["staff"] if s["id"] == "alice")
        assert alice["state"] == "break" and alice["reason"] == "no answer"
    finally:
        eng.stop()


def test_without_the_speech_synthesiser_calls_still_work_and_the_page_says_why(tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no espeak-ng anywhere
    eng = start_engine(make_config(tmp_path))
    try:
        wait_for(eng, lines_ready, what="lines ready")
        problems = eng.snapshot()["engine"]["problems"]
        assert any("espeak-ng" in p for p in problems), problems
        assert eng.test_call("line1", keys="2", talk_s=0.5)["ok"]
        row = wait_call_ended(eng, eng.sim_handle("line1"))
        assert row["outcome"] == "answered" and row["queue"] == "support"
    finally:
        eng.stop()


def test_a_waiting_caller_is_reminded_to_hold(tmp_path):
    eng = start_engine(make_config(tmp_path, hold_reminder_s=4.0))
    try:
        wait_for(eng, lines_ready, what="lines ready")
        for sid in ("alice", "carol"):
            eng.set_staff_state(sid, "break")
        handle = place(eng, "line1", [Wait(0.3), Press("1"), Wait(9.0), HangUp("loop")])
        row = wait_call_ended(eng, handle)
        assert row["outcome"] == "abandoned_in_queue"
        # What the caller heard after pressing 1: bursts of speech separated by silence.
        heard = handle.heard
        frames = heard[:len(heard) // 160 * 160].reshape(-1, 160)
        loud = [pcm.rms(f) > 800 for f in frames]
        starts, quiet_run = 0, 50
        for is_loud in loud[int(1.0 / 0.02):]:  # skip the greeting cut short by the key
            if is_loud and quiet_run >= 50:  # speech after at least a second of silence
                starts += 1
            quiet_run = 0 if is_loud else quiet_run + 1
        assert starts >= 2  # "please hold" at once, and again after 4 s
    finally:
        eng.stop()
