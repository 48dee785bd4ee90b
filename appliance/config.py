"""Appliance configuration: lines, staff, queues, the main menu and timings.

Read from a YAML or JSON file (``callbox engine --config FILE``); ``demo_config()`` builds the
configuration the demo and ``callbox simulate`` run with (simulated lines, virtual headsets,
staff who pick up by themselves). Bad files get errors that name the field at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A problem in the configuration file; the message names the field at fault."""


@dataclass
class LineConfig:
    id: str
    label: str
    port: str | None = None  # serial device; None = a simulated modem started by the engine
    rings_to_answer: int = 2
    country: str = "B5"
    dialect: str = "conexant"  # simulated lines only
    ring_period_s: float = 6.0  # simulated lines only
    sim_faults: dict | None = None  # simulated lines only: fault injection (see modem_sim)

    @property
    def simulated(self) -> bool:
        return self.port is None


@dataclass
class StaffConfig:
    id: str
    name: str
    skills: list[str]
    headset: str  # audio device name
    answer_after_s: float | None = None  # simulated staff: pick up by themselves after this delay
    mic_tone_hz: float = 1000.0  # virtual headsets only: the tone the simulated microphone plays


@dataclass
class Config:
    data_dir: Path
    lines: list[LineConfig]
    staff: list[StaffConfig]
    queues: dict[str, str] = field(default_factory=lambda: {"sales": "Sales",
                                                            "support": "Support"})
    menu: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_MENU))
    offer_timeout_s: float = 20.0
    wrapup_s: float = 0.0
    silence_hangup_s: float = 20.0
    max_wait_s: float = 600.0
    hold_reminder_s: float = 30.0  # a waiting caller hears "please hold" again this often
    demo: bool = False
    virtual_audio: bool = False  # create stand-in headset devices (demo, simulate, tests)
    db_file: Path | None = None  # default: callbox.db in the data directory

    @property
    def db_path(self) -> Path:
        return self.db_file or self.data_dir / "callbox.db"

    @property
    def control_path(self) -> Path:
        return self.data_dir / "engine.sock"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def prompts_dir(self) -> Path:
        return self.data_dir / "prompts"

    @property
    def audio_home(self) -> Path:
        return self.data_dir / "audio"


DEFAULT_MENU: dict[str, Any] = {
    "name": "main",
    "greeting": "Thank you for calling. For sales press 1, for support press 2.",
    "options": {"1": "sales", "2": "support"},
    "timeout_s": 6,
    "retries": 2,
}


def demo_config(data_dir: Path, lines: int = 2, ring_period_s: float = 6.0,
                answer_after_s: float | None = 3.0) -> Config:
    line_list = [LineConfig(id=f"line{n}", label=f"Line {n}", ring_period_s=ring_period_s)
                 for n in range(1, lines + 1)]
    staff = [
        StaffConfig("alice", "Alice", ["sales"], "headset1", answer_after_s, 1000.0),
        StaffConfig("bob", "Bob", ["support"], "headset2", answer_after_s, 1300.0),
        StaffConfig("carol", "Carol", ["sales", "support"], "headset3", answer_after_s, 1700.0),
    ]
    return Config(data_dir=Path(data_dir), lines=line_list, staff=staff, demo=True,
                  virtual_audio=True)


def _need(d: dict, key: str, kind: type, where: str) -> Any:
    if key not in d:
        raise ConfigError(f"{where}: '{key}' is missing.")
    value = d[key]
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: '{key}' should be a {kind.__name__}, not {value!r}.")
    return value


def load_config(path: Path, data_dir: Path | None = None) -> Config:
    text = Path(path).read_text()
    try:
        raw = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid YAML/JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the file should hold a mapping with 'lines' and 'staff'.")
    lines = []
    for i, entry in enumerate(raw.get("lines") or [], start=1):
        where = f"{path}: lines[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: should be a mapping.")
        lines.append(LineConfig(
            id=_need(entry, "id", str, where),
            label=entry.get("label") or _need(entry, "id", str, where),
            port=entry.get("port"),
            rings_to_answer=int(entry.get("rings_to_answer", 2)),
            country=str(entry.get("country", "B5")),
        ))
    staff = []
    for i, entry in enumerate(raw.get("staff") or [], start=1):
        where = f"{path}: staff[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: should be a mapping.")
        skills = entry.get("skills") or []
        if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
            raise ConfigError(f"{where}: 'skills' should be a list of queue names.")
        staff.append(StaffConfig(
            id=_need(entry, "id", str, where), name=entry.get("name") or entry["id"],
            skills=skills, headset=_need(entry, "headset", str, where),
            answer_after_s=entry.get("answer_after_s"),
        ))
    if not lines:
        raise ConfigError(f"{path}: no 'lines' configured.")
    cfg = Config(data_dir=Path(data_dir or raw.get("data_dir") or "/var/lib/callbox"),
                 lines=lines, staff=staff)
    if "queues" in raw:
        cfg.queues = {str(k): str(v) for k, v in raw["queues"].items()}
    if "menu" in raw:
        cfg.menu = raw["menu"]
    for key in ("offer_timeout_s", "wrapup_s", "silence_hangup_s", "max_wait_s",
                "hold_reminder_s"):
        if key in raw:
            setattr(cfg, key, float(raw[key]))
    return cfg
