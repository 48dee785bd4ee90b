"""Lines under trouble: the modem vanishing mid-call and coming back, fax callers, missed calls.

Through the real engine, driver, simulator, virtual headsets and SQLite.
"""

from __future__ import annotations

import time
import wave

from appliance.modem_sim import AwaitAnswer, HangUp, Press, SimCall, Talk, Tone, Wait
from tests.engine_fixtures import (engine, line_state, lines_ready, make_config,  # noqa: F401
                                   start_engine, wait_call_ended, wait_for)


def place(engine, line, steps, **fields):
    handle = engine.simulator(line).place_call(SimCall(steps=steps, ring_period=0.4, **fields))
    engine._sim_handles[line] = handle
    return handle


def test_modem_vanishing_mid_call_ends_the_call_clearly_and_the_line_comes_back(engine):
    handle = place(engine, "line1", [Wait(0.3), Press("1"), AwaitAnswer(30), Talk(30)])
    wait_for(engine, lambda s: line_state(s, "line1") == "talking", what="talking")
    engine.simulator("line1").vanish(return_after=1.0)

    state = wait_for(engine, lambda s: line_state(s, "line1") == "fault", what="line fault")
    line = next(l for l in state["lines"] if l["id"] == "line1")
    assert "stopped working" in line["fault"] or "unplugged" in line["fault"]
    assert next(l for l in state["lights"] if l["name"] == "fault")["lit"]

    call_id = handle.call_id
    engine.board.wait_until(lambda _s: engine.store.call(call_id)["ended_at"] is not None, 10)
    row = engine.store.call(call_id)
    assert row["outcome"] == "line_fault"
    assert row["staff_id"] in ("alice", "carol") and row["talk_s"] >= 0
    with wave.open(str(engine.cfg.recordings_dir / row["recording"])) as w:
        assert w.getnframes() > 0  # the recording so far is kept and readable

    returned = time.monotonic()
    wait_for(engine, lambda s: line_state(s, "line1") == "idle", timeout=6,
             what="the line back after the modem returned")
    assert time.monotonic() - returned < 5.0
    # And it takes calls again.
    assert engine.test_call("line1", keys="2", talk_s=0.5)["ok"]
    assert wait_call_ended(engine, engine.sim_handle("line1"))["outcome"] == "answered"


def test_a_fax_caller_hears_voice_only_and_is_hung_up(engine):
    handle = place(engine, "line2", [Tone(1100, 0.5), Wait(0.5), Tone(1100, 0.5), Wait(10)])
    row = wait_call_ended(engine, handle)
    assert row["outcome"] == "machine"
    assert row["hangup_signal"] == "fax_tone"
    kinds = [e["kind"] for e in engine.store.call_events(row["id"])]
    assert "machine" in kinds
    assert handle.outcome == "engine_hung_up"


def test_the_dashboard_sees_the_line_ring_and_a_missed_call_is_logged(engine):
    handle = place(engine, "line1", [], max_rings=1, number="5550001234", name="GONE AWAY")
    state = wait_for(engine, lambda s: line_state(s, "line1") == "ringing", what="ringing")
    assert handle.done.wait(10)
    state = wait_for(engine, lambda s: line_state(s, "line1") == "idle", what="idle again")
    rows = [r for r in engine.store.calls() if r["outcome"] == "not_answered"]
    assert len(rows) == 1
    assert rows[0]["line"] == "line1" and rows[0]["hangup_signal"] == "rings_stopped"
