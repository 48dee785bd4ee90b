"""``callbox simulate``: scripted calls through the whole stack, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.scenario import ScenarioError, load_scenario

REQUIRED = {"line", "caller", "keys", "queue", "agent", "wait_s", "talk_s", "outcome",
            "recording"}


def callbox(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_generated_calls_on_two_lines(tmp_path):
    db = tmp_path / "calls.db"
    result = callbox("simulate", "--calls", "3", "--lines", "2", "--json", "--db", str(db))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert len(report["calls"]) == 3
    assert report["totals"]["complete"] is True
    assert {c["line"] for c in report["calls"]} == {"line1", "line2"}
    for call in report["calls"]:
        assert REQUIRED <= set(call)
        assert call["outcome"] == "answered"
        assert call["queue"] in ("sales", "support")
        assert call["agent"] in {"sales": ("alice", "carol"),
                                 "support": ("bob", "carol")}[call["queue"]]
        with wave.open(call["recording"]) as w:
            assert w.getnframes() > 8000  # more than a second of the call
    # The calls are in the database the user named.
    import sqlite3

    rows = sqlite3.connect(db).execute("select count(*) from calls where outcome='answered'")
    assert rows.fetchone()[0] == 3


SCENARIO = """\
ring_period_s: 0.4
staff:
  - {id: alice, skills: [sales], answer_after_s: 0.5}
  - {id: bob, skills: [support], answer: never}
  - {id: carol, skills: [sales, support], answer_after_s: 0.5, break_at_s: 0}
callers:
  - line: 1
    number: private
    steps:
      - press: "1"
      - say: hello.wav
      - talk: 1
      - hangup: loop
  - line: 2
    number: none
    steps:
      - wait: 1
      - hangup: busy
  - line: 1
    at_s: 0.5
    number: "5550001111"
    name: SMITH ANNA
    steps:
      - press: "2"
      - wait: 2
      - hangup: loop
"""


def test_scenario_file_with_private_callers_hangups_and_staff_who_never_answer(tmp_path):
    rate = 16000
    t = np.arange(rate) / rate
    with wave.open(str(tmp_path / "hello.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes((np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).tobytes())
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    result = callbox("simulate", "--scenario", str(scenario), "--json",
                     "--db", str(tmp_path / "s.db"))
    assert result.returncode == 0, result.stderr[-2000:]
    calls = json.loads(result.stdout)["calls"]
    by_line = {}
    for call in calls:
        by_line.setdefault(call["line"], []).append(call)
    first, third = by_line["line1"]
    [second] = by_line["line2"]
    assert first["caller"] == "private" and first["outcome"] == "answered"
    assert first["agent"] == "alice"
    assert second["caller"] is None and second["outcome"] == "abandoned_in_menu"
    assert second["recording"] is not None
    assert third["caller"] == "5550001111" and third["queue"] == "support"
    assert third["outcome"] == "abandoned_while_ringing"  # Bob's headset rang, he never answered
    assert third["agent"] == "bob"  # Carol went on a break at the start: never offered a call


@pytest.mark.parametrize("text,line,words", [
    ("callers:\n  - line: 1\n    steps:\n      - prss: '1'\n", 4, "unknown step 'prss'"),
    ("callers:\n  - line: 1\n    steps:\n      - press: 'x9'\n", 4, "press takes keypad keys"),
    ("callers:\n  - line: 1\n    number: 555-1234\n", 3, "number should be digits"),
    ("callers:\n  - line: one\n", 2, "line should be a line number"),
    ("callers:\n  - line: 1\n    steps:\n      - hangup: slam\n", 4, "hangup is one of"),
    ("callers:\n  - line: 1\n    steps: [\n", 4, "not valid YAML"),
    ("callers:\n  - line: 1\n    steps:\n      - say: missing.wav\n", 4, "does not exist"),
    ("lines: 1\ncallers:\n  - line: 1\n  - line: 2\n", 4, "line2 does not exist"),
    ("staff:\n  - {id: x}\ncallers:\n  - line: 1\n", 2, "needs 'skills'"),
])
def test_malformed_scenario_names_the_line_at_fault(tmp_path, text, line, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert f"bad.yaml line {line}:" in str(info.value)
    assert words in str(info.value)


def test_the_command_reports_a_malformed_scenario_and_exits_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"callers": [{"line": 1, "steps": [{"wait": -1}]}]}')
    result = callbox("simulate", "--scenario", str(path), timeout=60)
    assert result.returncode == 2
    assert "bad.json line 1:" in result.stderr and "wait should be a number" in result.stderr
