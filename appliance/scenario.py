"""Scenario files for ``callbox simulate``: who calls which line when, what they do, how staff behave.

A scenario is YAML (or JSON, which YAML reads too)::

    lines: 2                 # simulated lines (default: as many as the callers use)
    ring_period_s: 1.0       # seconds between rings (real lines: 6)
    staff:                   # default: the demo's Alice (sales), Bob (support), Carol (both)
      - {id: alice, skills: [sales], answer_after_s: 2}
      - {id: bob, skills: [support], answer: never}       # rings out, never picks up
      - {id: carol, skills: [sales, support], answer_after_s: 1, break_at_s: 20}
    callers:
      - line: 1              # or "line1"
        at_s: 0              # when the first ring starts, seconds from the start
        number: "5551234567" # or private / none
        name: DOE JOHN
        steps:
          - press: "1"
          - wait: 1.5
          - say: greeting.wav          # a WAV file (any rate, mono), or {text: "hello"}
          - talk: 5                    # talk for 5 s once a staff member is connected
          - hangup: loop               # loop | busy | dial | silence

Every mistake is reported with the file's line number: ``scenario.yaml line 12: ...``.
"""

from __future__ import annotations

import random
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soxr
import yaml

STEP_KINDS = ("press", "say", "wait", "talk", "hangup", "tone")
HANGUP_HOW = ("loop", "busy", "dial", "silence")


class ScenarioError(ValueError):
    """A mistake in a scenario file; the message names the line at fault."""


@dataclass
class StaffPlan:
    id: str
    name: str
    skills: list[str]
    answer_after_s: float | None = 1.0  # None: never answers
    break_at_s: float | None = None


@dataclass
class Step:
    kind: str  # press | say_text | say_audio | wait | talk | hangup | tone
    value: Any


@dataclass
class CallerPlan:
    line: str
    at_s: float
    number: str | None
    name: str | None
    steps: list[Step]
    source_line: int | None = None


@dataclass
class Scenario:
    callers: list[CallerPlan]
    staff: list[StaffPlan] = field(default_factory=list)
    lines: int = 2
    ring_period_s: float = 1.0
    rings_to_answer: int = 2


def default_staff(answer_after_s: float | None = 1.0) -> list[StaffPlan]:
    return [StaffPlan("alice", "Alice", ["sales"], answer_after_s),
            StaffPlan("bob", "Bob", ["support"], answer_after_s),
            StaffPlan("carol", "Carol", ["sales", "support"], answer_after_s)]


def generated_scenario(calls: int, lines: int, seed: int = 1) -> Scenario:
    """``calls`` ordinary calls spread over ``lines`` lines, one after another on each line."""
    if calls < 1 or lines < 1:
        raise ScenarioError("--calls and --lines must be at least 1.")
    rng = random.Random(seed)
    callers = []
    for n in range(calls):
        line = f"line{n % lines + 1}"
        number = rng.choice([f"555{rng.randrange(10**7):07d}", "P", None])
        steps = [Step("wait", 0.5), Step("press", rng.choice("12")),
                 Step("talk", round(rng.uniform(1.0, 3.0), 1)), Step("hangup", "loop")]
        callers.append(CallerPlan(line, 0.0, number,
                                  None if number in (None, "P") else "CALLER %d" % (n + 1),
                                  steps))
    return Scenario(callers=callers, staff=default_staff(), lines=lines)


# -- parsing with line numbers ---------------------------------------------------------------

def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: yaml.Node, where: str, path: Path) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ScenarioError(f"{path.name} line {_line(node)}: {where} should be a single value.")
    return yaml.safe_load(yaml.serialize(node))


def _mapping(node: yaml.Node, where: str, path: Path) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise ScenarioError(f"{path.name} line {_line(node)}: {where} should be a mapping "
                            "(key: value lines).")
    out = {}
    for key_node, value_node in node.value:
        out[str(key_node.value)] = value_node
    return out


def _number(node: yaml.Node, where: str, path: Path, minimum: float = 0.0) -> float:
    value = _scalar(node, where, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ScenarioError(f"{path.name} line {_line(node)}: {where} should be a number of at "
                            f"least {minimum:g}, not {value!r}.")
    return float(value)


def load_scenario(path: Path) -> Scenario:
    path = Path(path)
    text = path.read_text()
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path.name}{where}: this is not valid YAML or JSON "
                            f"({getattr(exc, 'problem', exc)}).") from None
    if root is None:
        raise ScenarioError(f"{path.name}: the file is empty.")
    top = _mapping(root, "the scenario", path)
    unknown = set(top) - {"lines", "ring_period_s", "rings_to_answer", "staff", "callers"}
    if unknown:
        key = sorted(unknown)[0]
        raise ScenarioError(f"{path.name} line {_line(top[key])}: unknown setting '{key}' "
                            "(expected lines, ring_period_s, rings_to_answer, staff, callers).")
    scenario = Scenario(callers=[], staff=default_staff())
    if "ring_period_s" in top:
        scenario.ring_period_s = _number(top["ring_period_s"], "ring_period_s", path, 0.2)
    if "rings_to_answer" in top:
        scenario.rings_to_answer = int(_number(top["rings_to_answer"], "rings_to_answer",
                                               path, 1))
    if "staff" in top:
        scenario.staff = _parse_staff(top["staff"], path)
    if "callers" not in top:
        raise ScenarioError(f"{path.name}: there is no 'callers' list.")
    callers_node = top["callers"]
    if not isinstance(callers_node, yaml.SequenceNode) or not callers_node.value:
        raise ScenarioError(f"{path.name} line {_line(callers_node)}: 'callers' should be a "
                            "list with at least one caller.")
    for item in callers_node.value:
        scenario.callers.append(_parse_caller(item, path))
    used = max(int(c.line[4:]) for c in scenario.callers)
    scenario.lines = used
    if "lines" in top:
        scenario.lines = int(_number(top["lines"], "lines", path, 1))
        if used > scenario.lines:
            bad = next(c for c in scenario.callers if int(c.line[4:]) > scenario.lines)
            raise ScenarioError(f"{path.name} line {bad.source_line}: {bad.line} does not exist; "
                                f"the scenario has {scenario.lines} line(s).")
    return scenario


def _parse_staff(node: yaml.Node, path: Path) -> list[StaffPlan]:
    if not isinstance(node, yaml.SequenceNode):
        raise ScenarioError(f"{path.name} line {_line(node)}: 'staff' should be a list.")
    staff = []
    for item in node.value:
        m = _mapping(item, "a staff member", path)
        if "id" not in m:
            raise ScenarioError(f"{path.name} line {_line(item)}: a staff member needs an 'id'.")
        sid = str(_scalar(m["id"], "id", path))
        skills_node = m.get("skills")
        if skills_node is None or not isinstance(skills_node, yaml.SequenceNode):
            raise ScenarioError(f"{path.name} line {_line(item)}: staff member {sid} needs "
                                "'skills', a list of queues such as [sales].")
        skills = [str(_scalar(s, "a skill", path)) for s in skills_node.value]
        plan = StaffPlan(sid, str(_scalar(m["name"], "name", path)) if "name" in m else
                         sid.title(), skills)
        if "answer" in m:
            how = _scalar(m["answer"], "answer", path)
            if how != "never":
                raise ScenarioError(f"{path.name} line {_line(m['answer'])}: 'answer' can only "
                                    "be 'never'; use answer_after_s for a delay.")
            plan.answer_after_s = None
        if "answer_after_s" in m:
            plan.answer_after_s = _number(m["answer_after_s"], "answer_after_s", path)
        if "break_at_s" in m:
            plan.break_at_s = _number(m["break_at_s"], "break_at_s", path)
        for key in m:
            if key not in ("id", "name", "skills", "answer", "answer_after_s", "break_at_s"):
                raise ScenarioError(f"{path.name} line {_line(m[key])}: unknown staff setting "
                                    f"'{key}'.")
        staff.append(plan)
    return staff


def _parse_caller(node: yaml.Node, path: Path) -> CallerPlan:
    m = _mapping(node, "a caller", path)
    for key in m:
        if key not in ("line", "at_s", "number", "name", "steps"):
            raise ScenarioError(f"{path.name} line {_line(m[key])}: unknown caller setting "
                                f"'{key}' (expected line, at_s, number, name, steps).")
    if "line" not in m:
        raise ScenarioError(f"{path.name} line {_line(node)}: the caller needs a 'line'.")
    raw_line = _scalar(m["line"], "line", path)
    text = str(raw_line)
    digits = text[4:] if text.startswith("line") else text
    if not digits.isdigit() or int(digits) < 1:
        raise ScenarioError(f"{path.name} line {_line(m['line'])}: line should be a line number "
                            f"such as 1 or line1, not {raw_line!r}.")
    line = f"line{int(digits)}"
    at_s = _number(m["at_s"], "at_s", path) if "at_s" in m else 0.0
    number: str | None = "5551234567"
    if "number" in m:
        value = _scalar(m["number"], "number", path)
        if value is None or str(value).lower() in ("none", ""):
            number = None
        elif str(value).lower() in ("private", "p"):
            number = "P"
        elif str(value).lower() in ("out_of_area", "o"):
            number = "O"
        elif str(value).isdigit():
            number = str(value)
        else:
            raise ScenarioError(f"{path.name} line {_line(m['number'])}: number should be digits, "
                                f"'private' or 'none', not {value!r}.")
    name = None
    if "name" in m:
        value = _scalar(m["name"], "name", path)
        name = None if value is None else str(value)[:15]
    steps = []
    steps_node = m.get("steps")
    if steps_node is not None:
        if not isinstance(steps_node, yaml.SequenceNode):
            raise ScenarioError(f"{path.name} line {_line(steps_node)}: 'steps' should be a list.")
        steps = [_parse_step(s, path) for s in steps_node.value]
    return CallerPlan(line, at_s, number, name, steps, source_line=_line(node))


def _parse_step(node: yaml.Node, path: Path) -> Step:
    m = _mapping(node, "a step", path)
    if len(m) != 1:
        raise ScenarioError(f"{path.name} line {_line(node)}: each step is one of "
                            f"{', '.join(STEP_KINDS)} (one per list item).")
    kind, value_node = next(iter(m.items()))
    where = f"{path.name} line {_line(value_node)}"
    if kind == "press":
        digits = str(_scalar(value_node, "press", path))
        if not digits or any(d not in "0123456789*#ABCD" for d in digits):
            raise ScenarioError(f"{where}: press takes keypad keys 0-9 * #, not {digits!r}.")
        return Step("press", digits)
    if kind in ("wait", "talk"):
        return Step(kind, _number(value_node, kind, path))
    if kind == "tone":
        return Step("tone", _number(value_node, "tone", path, 200))
    if kind == "hangup":
        how = _scalar(value_node, "hangup", path) or "loop"
        if how not in HANGUP_HOW:
            raise ScenarioError(f"{where}: hangup is one of {', '.join(HANGUP_HOW)}, not {how!r}.")
        return Step("hangup", how)
    if kind == "say":
        if isinstance(value_node, yaml.MappingNode):
            sm = _mapping(value_node, "say", path)
            if "text" not in sm:
                raise ScenarioError(f"{where}: say takes a WAV file name or {{text: ...}}.")
            return Step("say_text", str(_scalar(sm["text"], "text", path)))
        wav = Path(str(_scalar(value_node, "say", path)))
        if not wav.is_absolute():
            wav = path.parent / wav
        return Step("say_audio", _read_wav_8k(wav, where))
    raise ScenarioError(f"{where}: unknown step '{kind}' (expected {', '.join(STEP_KINDS)}).")


def _read_wav_8k(wav: Path, where: str) -> np.ndarray:
    try:
        with wave.open(str(wav), "rb") as w:
            if w.getsampwidth() != 2:
                raise ScenarioError(f"{where}: {wav.name} must be 16-bit PCM WAV.")
            data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
            channels, rate = w.getnchannels(), w.getframerate()
    except FileNotFoundError:
        raise ScenarioError(f"{where}: the sound file {wav} does not exist.") from None
    except (wave.Error, EOFError) as exc:
        raise ScenarioError(f"{where}: {wav.name} is not a readable WAV file ({exc}).") from None
    if channels > 1:
        data = data.reshape(-1, channels)[:, 0]
    if rate != 8000:
        data = soxr.resample(data, rate, 8000).astype(np.int16)
    return data
