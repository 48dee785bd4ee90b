"""Four lines at once, each with a different scripted call, and a modem that resets itself.

Two Conexant and two USR simulated modems on four pseudo-terminals, the real engine, three
virtual headsets: the calls overlap, one caller waits for a free staff member, each call ends
in its own way and every record comes out right.
"""

from __future__ import annotations

from appliance.modem_sim import AwaitAnswer, HangUp, Press, SimCall, Talk, Wait
from tests.engine_fixtures import (line_state, lines_ready, make_config, start_engine,
                                   wait_call_ended, wait_for)


def test_four_lines_four_different_calls_all_correct(tmp_path):
    cfg = make_config(tmp_path, lines=4)
    cfg.lines[1].dialect = "usr"
    cfg.lines[3].dialect = "usr"
    eng = start_engine(cfg)
    try:
        wait_for(eng, lines_ready, what="four lines ready")
        state = eng.snapshot()
        assert "U.S. Robotics" in state["lines"][1]["model"]
        assert "CONEXANT" in state["lines"][0]["model"]
        plans = {
            # US caller ID after ring 1, talks to sales.
            "line1": SimCall(number="5551110001", name="FIRST CALLER", ring_period=0.4,
                             steps=[Wait(0.3), Press("1"), AwaitAnswer(30), Talk(2.0),
                                    HangUp("loop")]),
            # Private caller on a USR modem, support, hangs up with busy tone.
            "line2": SimCall(number="P", name=None, ring_period=0.4,
                             steps=[Wait(0.3), Press("2"), AwaitAnswer(30), Talk(2.0),
                                    HangUp("busy")]),
            # UK style caller ID before the first ring, no name; a wrong key first.
            "line3": SimCall(number="441632960001", name=None, cid_before_first_ring=True,
                             cid_variant="no_name", ring_period=0.4,
                             steps=[Wait(0.3), Press("9"), Wait(0.5), Press("1"),
                                    AwaitAnswer(30), Talk(1.0), HangUp("dial")]),
            # No caller ID at all; gives up in the menu.
            "line4": SimCall(number=None, name=None, ring_period=0.4,
                             steps=[Wait(1.0), HangUp("loop")]),
        }
        handles = {}
        for line, call in plans.items():
            handles[line] = eng.simulator(line).place_call(call)
            eng._sim_handles[line] = handles[line]
        rows = {line: wait_call_ended(eng, h, timeout=90) for line, h in handles.items()}

        assert rows["line1"]["caller_number"] == "5551110001"
        assert rows["line1"]["caller_name"] == "FIRST CALLER"
        assert (rows["line1"]["queue"], rows["line1"]["outcome"]) == ("sales", "answered")
        assert rows["line1"]["hangup_signal"] == "loop_drop"

        assert rows["line2"]["caller_status"] == "private"
        assert (rows["line2"]["queue"], rows["line2"]["outcome"]) == ("support", "answered")
        assert rows["line2"]["hangup_signal"] == "busy_tone"

        assert rows["line3"]["caller_number"] == "441632960001"
        assert rows["line3"]["caller_name"] is None
        assert rows["line3"]["menu_key"] == "1" and rows["line3"]["outcome"] == "answered"
        assert rows["line3"]["hangup_signal"] == "dial_tone"

        assert rows["line4"]["caller_number"] is None
        assert rows["line4"]["caller_status"] == "none"
        assert rows["line4"]["outcome"] == "abandoned_in_menu"

        # Three staff for three answered calls that overlapped: nobody took two at once.
        answered = [rows[l] for l in ("line1", "line2", "line3")]
        for a in answered:
            for b in answered:
                if a is not b and a["staff_id"] == b["staff_id"]:
                    assert a["ended_at"] <= b["staff_answered_at"] or \
                        b["ended_at"] <= a["staff_answered_at"]
        wait_for(eng, lambda s: all(l["state"] == "idle" for l in s["lines"]),
                 what="all lines idle")
    finally:
        eng.stop()


def test_a_modem_that_resets_itself_keeps_caller_id(tmp_path):
    eng = start_engine(make_config(tmp_path, lines=1))
    try:
        wait_for(eng, lines_ready, what="line ready")
        sim = eng.simulator("line1")
        sim.reset_now()  # power-on state: echo on, class 0, caller ID reporting off
        wait_for(eng, lambda s: s["lines"][0]["modem_resets"] == 1, timeout=10,
                 what="the driver noticing the reset")
        # The next call must still show its caller ID: the driver notices and sets it up again.
        assert eng.test_call("line1", number="5552223333", name="AFTER RESET", keys="2",
                             talk_s=0.5)["ok"]
        row = wait_call_ended(eng, eng.sim_handle("line1"), timeout=60)
        assert row["caller_number"] == "5552223333"
        assert row["outcome"] == "answered"
    finally:
        eng.stop()
