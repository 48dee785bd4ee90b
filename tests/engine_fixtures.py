"""Fixtures that run the real engine on simulated modems, virtual headsets and mock lights.

Everything below the engine is the real code path: pyserial on pseudo-terminals talking to the
V.253 simulator, PortAudio (pyaudio) on ALSA virtual devices, gpiozero's mock pins, SQLite.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.cli import prepare_virtual_headsets
from appliance.config import demo_config

CALLER_HZ = 600.0
STAFF_HZ = {"alice": 1000.0, "bob": 1300.0, "carol": 1700.0}


def make_config(tmp_path: Path, **overrides):
    cfg = demo_config(tmp_path / "data", lines=overrides.pop("lines", 2), ring_period_s=0.4,
                      answer_after_s=overrides.pop("answer_after_s", 0.5))
    cfg.offer_timeout_s = overrides.pop("offer_timeout_s", 30.0)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def start_engine(cfg, control: bool = True):
    from appliance.engine import Engine

    prepare_virtual_headsets(cfg)
    engine = Engine(cfg, control=control)
    engine.start()
    return engine


def wait_for(engine, predicate, timeout: float = 30.0, what: str = "condition"):
    """Wait on the engine's state board until ``predicate(state)`` holds."""
    state = engine.board.wait_until(predicate, timeout)
    if state is None:
        raise AssertionError(f"timed out waiting for {what}; last state: "
                             f"{engine.board.current()[1]}")
    return state


def lines_ready(state) -> bool:
    lines = state.get("lines", [])
    return bool(lines) and all(l["state"] == "idle" and l.get("model") for l in lines)


def line_state(state, line_id: str) -> str:
    return next(l["state"] for l in state["lines"] if l["id"] == line_id)


def staff_state(state, staff_id: str) -> str:
    return next(s["state"] for s in state["staff"] if s["id"] == staff_id)


def wait_call_ended(engine, handle, timeout: float = 60.0) -> dict:
    assert handle.done.wait(timeout), "the simulated caller never finished"

    def ended(_state) -> bool:
        call_id = getattr(handle, "call_id", None)
        row = engine.store.call(call_id) if call_id is not None else None
        return bool(row) and row["ended_at"] is not None

    assert engine.board.wait_until(ended, timeout) is not None, \
        "the engine never wrote the call's outcome"
    return engine.store.call(handle.call_id)


def read_recording(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    return data[:, 0], data[:, 1]


@pytest.fixture
def engine(tmp_path):
    eng = start_engine(make_config(tmp_path))
    try:
        wait_for(eng, lines_ready, what="lines ready")
        yield eng
    finally:
        eng.stop()
