"""``callbox simulate``: scripted callers through the whole stack, no browser.

Starts the real engine on simulated modems (pseudo-terminals), virtual headsets and mock lights,
places each scripted caller's call on its line in turn, lets simulated staff behave as the
scenario says, waits for every call to reach an outcome in the store, and reports the calls.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from appliance.config import StaffConfig, demo_config
from appliance.scenario import CallerPlan, Scenario, Step

MIC_TONES = (1000.0, 1300.0, 1700.0, 1900.0, 2100.0, 2300.0, 2500.0, 2700.0)
CALLER_TONE_HZ = 600.0


def sim_steps(steps: list[Step], prompts, max_wait_s: float) -> list:
    """Scenario steps to the simulator's step objects (``talk`` first waits for a staff member)."""
    from appliance.modem_sim import AwaitAnswer, HangUp, Press, Say, Talk, Tone, Wait

    out = []
    for step in steps:
        if step.kind == "press":
            out.append(Press(step.value))
        elif step.kind == "wait":
            out.append(Wait(step.value))
        elif step.kind == "talk":
            out += [AwaitAnswer(timeout=max_wait_s), Talk(step.value, hz=CALLER_TONE_HZ)]
        elif step.kind == "hangup":
            out.append(HangUp(step.value))
        elif step.kind == "tone":
            out.append(Tone(step.value, 1.0))
        elif step.kind == "say_text":
            out.append(Say(prompts.get(step.value)))
        elif step.kind == "say_audio":
            out.append(Say(step.value))
    if not any(isinstance(s, HangUp) for s in out):
        out.append(HangUp("loop"))
    return out


def run_simulation(scenario: Scenario, db: Path | None = None, data: Path | None = None,
                   timeout_s: float = 600.0) -> dict:
    from appliance.cli import prepare_virtual_headsets
    from appliance.engine import Engine
    from appliance.modem_sim import SimCall

    if data is None:
        if db is not None:
            data = db.parent / f"{db.stem}-data"
        else:  # kept afterwards, so the recordings listed can still be played
            data = Path(tempfile.mkdtemp(prefix="callbox-sim-"))
    cfg = demo_config(Path(data), lines=scenario.lines, ring_period_s=scenario.ring_period_s)
    cfg.db_file = Path(db) if db else None
    cfg.staff = [StaffConfig(p.id, p.name, p.skills, f"headset{i + 1}", p.answer_after_s,
                             MIC_TONES[i % len(MIC_TONES)])
                 for i, p in enumerate(scenario.staff)]
    skills = sorted({s for p in scenario.staff for s in p.skills})
    cfg.queues = {q: q.title() for q in skills}
    for line in cfg.lines:
        line.rings_to_answer = scenario.rings_to_answer
    prepare_virtual_headsets(cfg)
    engine = Engine(cfg, control=False)
    started = time.monotonic()
    results: list[dict] = []
    try:
        engine.start()
        _wait_lines_ready(engine, deadline=time.monotonic() + 30)
        t0 = time.monotonic()
        for plan in scenario.staff:
            if plan.break_at_s is not None:
                timer = threading.Timer(plan.break_at_s, engine.set_staff_state,
                                        (plan.id, "break"))
                timer.daemon = True
                timer.start()
        by_line: dict[str, list[CallerPlan]] = defaultdict(list)
        for caller in sorted(scenario.callers, key=lambda c: c.at_s):
            by_line[caller.line].append(caller)
        placed: list[tuple[CallerPlan, object]] = []
        lock = threading.Lock()
        deadline = time.monotonic() + timeout_s

        def run_line(line_id: str, callers: list[CallerPlan]) -> None:
            sim = engine.simulator(line_id)
            for caller in callers:
                delay = t0 + caller.at_s - time.monotonic()
                if delay > 0:
                    threading.Event().wait(delay)  # the caller's scheduled start time
                _wait_line(engine, line_id, "idle", deadline)
                call = SimCall(number=caller.number, name=caller.name,
                               steps=sim_steps(caller.steps, engine.prompts, cfg.max_wait_s),
                               ring_period=scenario.ring_period_s)
                handle = sim.place_call(call)
                engine._sim_handles[line_id] = handle
                with lock:
                    placed.append((caller, handle))
                handle.done.wait(max(0.0, deadline - time.monotonic()))
                _wait_call_closed(engine, handle, deadline)

        threads = [threading.Thread(target=run_line, args=item, daemon=True)
                   for item in by_line.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for caller, handle in placed:
            results.append(_report(engine, caller, handle))
    finally:
        engine.stop()
        engine.store.close()
    wall = round(time.monotonic() - started, 2)
    complete = len(results) == len(scenario.callers) and all(r["outcome"] for r in results)
    answered = [r for r in results if r["outcome"] == "answered"]
    waits = [r["wait_s"] for r in answered if r["wait_s"] is not None]
    talks = [r["talk_s"] for r in answered if r["talk_s"] is not None]
    outcomes: dict[str, int] = defaultdict(int)
    for r in results:
        outcomes[r["outcome"] or "none"] += 1
    totals = {"calls": len(results), "complete": complete, "answered": len(answered),
              "abandoned": sum(1 for r in results if (r["outcome"] or "").startswith("abandoned")),
              "outcomes": dict(outcomes),
              "avg_wait_s": round(sum(waits) / len(waits), 2) if waits else None,
              "avg_talk_s": round(sum(talks) / len(talks), 2) if talks else None,
              "wall_s": wall, "db": str(cfg.db_path)}
    return {"calls": results, "totals": totals}


def _report(engine, caller: CallerPlan, handle) -> dict:
    call_id = getattr(handle, "call_id", None)
    row = engine.store.call(call_id) if call_id is not None else None
    number = caller.number
    caller_text = {"P": "private", "O": "out of area", None: None}.get(number, number)
    if row is None:
        return {"line": caller.line, "caller": caller_text, "keys": None, "queue": None,
                "agent": None, "wait_s": None, "talk_s": None,
                "outcome": "not_answered" if handle.done.is_set() else None,
                "hangup_signal": None, "recording": None, "call_id": None}
    recording = row["recording"]
    if recording:
        recording = str(engine.cfg.recordings_dir / recording)
    return {"line": row["line"], "caller": caller_text, "caller_name": row["caller_name"],
            "keys": row["menu_key"], "queue": row["queue"], "agent": row["staff_id"],
            "wait_s": row["wait_s"], "talk_s": row["talk_s"], "outcome": row["outcome"],
            "hangup_signal": row["hangup_signal"], "recording": recording, "call_id": row["id"]}


def _wait_lines_ready(engine, deadline: float) -> None:
    def settled(state: dict) -> bool:
        lines = state.get("lines", [])
        up = all(l["state"] == "idle" and l.get("model") for l in lines)
        return bool(lines) and (up or all(l["state"] == "fault" for l in lines))

    state = engine.board.wait_until(settled, max(0.0, deadline - time.monotonic()))
    if state is None:
        raise RuntimeError("The simulated lines did not come up within 30 s.")
    faults = [l for l in state["lines"] if l["state"] == "fault"]
    if faults:
        raise RuntimeError("No simulated line came up: " +
                           "; ".join(f"{l['label']}: {l['fault']}" for l in faults))


def _wait_line(engine, line_id: str, state: str, deadline: float) -> None:
    engine.board.wait_until(
        lambda snap: any(l["id"] == line_id and l["state"] == state for l in snap["lines"]),
        max(0.0, deadline - time.monotonic()))


def _wait_call_closed(engine, handle, deadline: float) -> None:
    """Until the engine has written the outcome of the handle's call (if it took the call)."""
    def closed(_state: dict) -> bool:
        call_id = getattr(handle, "call_id", None)
        if call_id is None:
            return handle.done.is_set() and handle.outcome == "gave_up"
        row = engine.store.call(call_id)
        return bool(row) and row["ended_at"] is not None

    engine.board.wait_until(closed, max(0.0, deadline - time.monotonic()))
