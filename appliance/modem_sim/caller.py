"""The simulated caller: the call description (``SimCall`` and its steps), the handle a test
or the demo keeps (``SimCallHandle``), and ``CallerVoice``, which turns the steps into 20 ms
frames of line audio plus the tone detections the modem would report for them.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from appliance import pcm

FRAME = pcm.FRAME_SAMPLES
NOISE_RMS = 60.0  # low-level line noise (about -55 dBFS), never digital silence
DTMF_KEYS = "0123456789*#ABCD"
DTMF_FREQS = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}
# Tones the modem's detector names (reference section 8): Hz -> DLE code.
DETECTED_TONES = {1100.0: "c", 1300.0: "e", 2100.0: "a", 2225.0: "f"}
HANGUP_KINDS = ("loop", "polarity", "busy", "dial", "silence")
# Ring cycle (seconds between RING lines) and caller ID before the first ring, per country.
COUNTRY_LINES = {"US": (6.0, False), "CA": (6.0, False), "UK": (3.0, True), "GB": (3.0, True),
                 "FR": (5.0, True)}
CID_VARIANTS = ("full", "no_name", "date_time_only", "ddn_nmbr", "second_nmbr_o")


def _frames(seconds: float) -> int:
    return max(0, int(round(seconds * pcm.LINE_RATE / FRAME)))


def _check_seconds(what: str, value, allow_zero: bool = True) -> None:
    if not isinstance(value, (int, float)) or value != value or value < 0 or \
            (value == 0 and not allow_zero):
        raise ValueError(f"{what} must be a number of seconds "
                         f"{'of 0 or more' if allow_zero else 'above 0'}, not {value!r}.")


# ----------------------------------------------------------------- steps

@dataclass(frozen=True)
class Wait:
    """The caller says nothing for ``seconds`` (line noise only)."""
    seconds: float

    def __post_init__(self):
        _check_seconds("Wait", self.seconds)


@dataclass(frozen=True)
class Press:
    """The caller presses ``digits`` one after another, ``gap`` seconds apart."""
    digits: str
    gap: float = 0.3
    tone_s: float = 0.1

    def __post_init__(self):
        if not isinstance(self.digits, str) or not self.digits:
            raise ValueError("Press needs at least one key, for example Press('1').")
        bad = [d for d in self.digits.upper() if d not in DTMF_KEYS]
        if bad:
            raise ValueError(f"Press: {bad[0]!r} is not a telephone key; use 0-9, *, # or A-D.")
        _check_seconds("Press gap", self.gap)
        _check_seconds("Press tone length", self.tone_s, allow_zero=False)


@dataclass(frozen=True, eq=False)
class Say:
    """The caller plays these int16 8 kHz samples (a recorded or synthesised phrase), as they
    are: no line noise is added."""
    samples: np.ndarray

    def __post_init__(self):
        arr = np.asarray(self.samples)
        if arr.ndim != 1 or arr.dtype != np.int16:
            raise ValueError("Say needs mono 16-bit samples at 8000 Hz (a 1-D int16 array).")


@dataclass(frozen=True)
class Tone:
    """A steady tone; 1100 Hz (fax), 1300 Hz (data), 2100/2225 Hz (answer) are also reported
    by the modem's tone detector as DLE c / e / a / f."""
    hz: float
    seconds: float

    def __post_init__(self):
        if not isinstance(self.hz, (int, float)) or not 50 <= self.hz <= 3400:
            raise ValueError(f"Tone frequency must be between 50 and 3400 Hz, not {self.hz!r}.")
        _check_seconds("Tone", self.seconds)


@dataclass(frozen=True)
class AwaitAnswer:
    """The caller holds until a staff member is connected (``handle.staff_connected``);
    after ``timeout`` seconds without one the caller gives up and hangs up."""
    timeout: float = 60.0

    def __post_init__(self):
        _check_seconds("AwaitAnswer timeout", self.timeout)


@dataclass(frozen=True)
class Talk:
    """The caller talks for ``seconds`` (a tone at ``hz`` stands in for the voice)."""
    seconds: float
    hz: float = 600.0

    def __post_init__(self):
        _check_seconds("Talk", self.seconds)
        if not isinstance(self.hz, (int, float)) or not 50 <= self.hz <= 3400:
            raise ValueError(f"Talk frequency must be between 50 and 3400 Hz, not {self.hz!r}.")


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up. How the line shows it: ``loop`` (loop current drop, Conexant
    ``DLE l``), ``polarity`` (``DLE L``), ``busy`` (busy tone, ``DLE b``), ``dial`` (dial tone,
    ``DLE d``) or ``silence`` (the line just goes quiet; ``DLE s`` only where the modem's
    silence detection works)."""
    how: str = "loop"

    def __post_init__(self):
        if self.how not in HANGUP_KINDS:
            raise ValueError(f"HangUp how={self.how!r} is not known; use one of "
                             f"{', '.join(HANGUP_KINDS)}.")


STEP_TYPES = (Wait, Press, Say, Tone, AwaitAnswer, Talk, HangUp)


# ----------------------------------------------------------------- the call

@dataclass
class SimCall:
    number: str | None = "5551234567"  # None = no caller ID; "P" private; "O" out of area
    name: str | None = "DOE JOHN"
    cid_before_first_ring: bool = False  # UK style
    ring_period: float = 6.0
    steps: Sequence = ()
    max_rings: int = 10
    # Additions beyond docs/interfaces.md:
    cid_variant: str = "full"  # full | no_name | date_time_only | ddn_nmbr | second_nmbr_o
    when: _dt.datetime | None = None  # exchange clock for DATE/TIME (default: now)
    dtmf_repeats: int = 1  # digit codes inside one /...~ group (some lines repeat them)
    line_dead_s: float = 2.0  # after a loop/polarity hang-up: quiet, then dial tone
    cid_delay: float | None = None  # seconds after ring 1 (or before it); default 0.4 x period

    def __post_init__(self):
        if self.number is not None:
            if not isinstance(self.number, str) or not (
                    self.number in ("P", "O") or (self.number.isdigit() and
                                                  1 <= len(self.number) <= 20)):
                raise ValueError(f"Caller number {self.number!r} is not valid: use digits only "
                                 f"(up to 20), 'P' for private, 'O' for out of area, or None "
                                 f"for no caller ID.")
        if self.name is not None and (not isinstance(self.name, str) or
                                      any(ord(c) < 32 or ord(c) > 126 for c in self.name)):
            raise ValueError(f"Caller name {self.name!r} must be plain text (letters, digits, "
                             f"spaces) or None.")
        _check_seconds("Ring period", self.ring_period, allow_zero=False)
        if not isinstance(self.max_rings, int) or self.max_rings < 1:
            raise ValueError(f"max_rings must be a whole number of at least 1, not "
                             f"{self.max_rings!r}.")
        if self.cid_variant not in CID_VARIANTS:
            raise ValueError(f"Caller ID variant {self.cid_variant!r} is not known; use one of "
                             f"{', '.join(CID_VARIANTS)}.")
        if not isinstance(self.dtmf_repeats, int) or not 1 <= self.dtmf_repeats <= 10:
            raise ValueError("dtmf_repeats must be a whole number from 1 to 10.")
        _check_seconds("line_dead_s", self.line_dead_s)
        if self.cid_delay is not None:
            _check_seconds("cid_delay", self.cid_delay)
        for step in self.steps:
            if not isinstance(step, STEP_TYPES):
                raise ValueError(f"{step!r} is not a caller step; use Wait, Press, Say, Tone, "
                                 f"AwaitAnswer, Talk or HangUp.")

    @classmethod
    def for_country(cls, country: str, **fields) -> "SimCall":
        """A call with the country's ring cycle and caller ID timing (``US``/``CA``: RING every
        6 s, caller ID after ring 1; ``UK``/``GB``: every 3 s, caller ID before ring 1;
        ``FR``: every 5 s, caller ID before ring 1). Other fields as keywords."""
        key = country.strip().upper()
        if key not in COUNTRY_LINES:
            raise ValueError(f"No ringing pattern for country {country!r}; known: "
                             f"{', '.join(sorted(COUNTRY_LINES))}.")
        period, before = COUNTRY_LINES[key]
        fields.setdefault("ring_period", period)
        fields.setdefault("cid_before_first_ring", before)
        if key in ("UK", "GB"):
            fields.setdefault("cid_variant", "no_name")  # BT lines usually send no name
        return cls(**fields)

    def cid_fields(self) -> list[tuple[str, str]]:
        """The formatted caller ID fields the exchange sends, in order (empty: no caller ID)."""
        if self.number is None:
            return []
        when = self.when or _dt.datetime.now()
        fields = [("DATE", when.strftime("%m%d")), ("TIME", when.strftime("%H%M"))]
        if self.cid_variant == "date_time_only":
            return fields
        tag = "DDN_NMBR" if self.cid_variant == "ddn_nmbr" else "NMBR"
        fields.append((tag, self.number))
        if self.cid_variant == "second_nmbr_o":
            fields.append(("NMBR", "O"))
        if self.cid_variant != "no_name":
            if self.number in ("P", "O"):
                fields.append(("NAME", self.number))
            elif self.name is not None:
                fields.append(("NAME", self.name[:15]))
        return fields


class SimCallHandle:
    """What the placer of a simulated call watches. ``heard`` is everything the host
    transmitted to the caller (int16 8 kHz); ``events`` is a list of (seconds since the call
    was placed, text) for debugging."""

    def __init__(self, call: SimCall) -> None:
        self.call = call
        self.answered = threading.Event()
        self.staff_connected = threading.Event()
        self.done = threading.Event()
        self.caller_hung_up = threading.Event()
        self.outcome: str | None = None  # "hung_up", "gave_up", "engine_hung_up", "stopped"
        self.rings = 0
        self.events: list[tuple[float, str]] = []
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._heard: list[np.ndarray] = []
        self._heard_cache: np.ndarray | None = None

    @property
    def heard(self) -> np.ndarray:
        with self._lock:
            if self._heard_cache is None:
                self._heard_cache = (np.concatenate(self._heard) if self._heard
                                     else np.zeros(0, dtype=np.int16))
                self._heard = [self._heard_cache] if len(self._heard_cache) else []
            return self._heard_cache

    def _hear(self, samples: np.ndarray) -> None:
        if len(samples):
            with self._lock:
                self._heard.append(np.asarray(samples, dtype=np.int16).copy())
                self._heard_cache = None

    def note(self, text: str) -> None:
        self.events.append((round(time.monotonic() - self._t0, 3), text))

    def _finish(self, outcome: str | None) -> None:
        if self.outcome is None and outcome is not None:
            self.outcome = outcome
        if not self.done.is_set():
            self.note(f"done: {self.outcome}")
            self.done.set()

    def __repr__(self) -> str:
        return (f"<SimCallHandle {self.call.number!r} outcome={self.outcome} "
                f"answered={self.answered.is_set()} done={self.done.is_set()}>")


class LineCall:
    """The call on the line: an incoming SimCall or the far end of an outbound one."""

    def __init__(self, call: SimCall, handle: SimCallHandle, voice: CallerVoice,
                 outbound: bool = False) -> None:
        self.call = call
        self.handle = handle
        self.voice = voice
        self.outbound = outbound
        self.state = "ringing"  # ringing -> connected -> over
        self.voice_started = False
        self.cid_sent = False


# ----------------------------------------------------------------- the caller's audio

@dataclass
class Frame:
    samples: np.ndarray
    events: list[str] = field(default_factory=list)
    talking: bool = False  # the caller is making sound (for the modem's silence detector)


class CallerVoice:
    """Produces the caller's side of the line frame by frame (call ``next_frame`` every 20 ms)
    from the steps; after ``HangUp`` it produces what a dead line sounds like."""

    def __init__(self, call: SimCall, handle: SimCallHandle, *, dialect: str,
                 seed: int = 0) -> None:
        self.call = call
        self.handle = handle
        self.dialect = dialect
        self._rng = np.random.default_rng(seed)
        self._phase = 0
        self._frames: Iterator[Frame] = self._script()

    def next_frame(self) -> Frame:
        return next(self._frames)

    def noise(self) -> np.ndarray:
        return self._rng.normal(0.0, NOISE_RMS, FRAME).astype(np.int16)

    def _tone(self, freqs, amplitude=0.3) -> np.ndarray:
        samples = pcm.tone(freqs, FRAME / pcm.LINE_RATE, amplitude=amplitude,
                           start_sample=self._phase)
        self._phase += FRAME
        return (samples.astype(np.int32) + self.noise()).clip(-32768, 32767).astype(np.int16)

    def _script(self) -> Iterator[Frame]:
        steps = list(self.call.steps)
        i = 0
        while i < len(steps):
            step = steps[i]
            self.handle.note(f"caller: {type(step).__name__}")
            if isinstance(step, Wait):
                for _ in range(_frames(step.seconds)):
                    yield Frame(self.noise())
            elif isinstance(step, Press):
                yield from self._press(step)
            elif isinstance(step, Say):
                data = np.asarray(step.samples, dtype=np.int16)
                for start in range(0, len(data), FRAME):
                    chunk = data[start:start + FRAME]
                    if len(chunk) < FRAME:  # the phrase's last frame ends in line noise
                        chunk = np.concatenate([chunk, self.noise()[len(chunk):]])
                    yield Frame(chunk, talking=True)
            elif isinstance(step, Tone):
                code = next((c for hz, c in DETECTED_TONES.items()
                             if abs(hz - step.hz) <= 20), None)
                for n in range(_frames(step.seconds)):
                    events = [code] if code and n == 0 else []
                    yield Frame(self._tone(step.hz), events, talking=True)
            elif isinstance(step, AwaitAnswer):
                waited = 0
                limit = _frames(step.timeout)
                while not self.handle.staff_connected.is_set() and waited < limit:
                    waited += 1
                    yield Frame(self.noise())
                if not self.handle.staff_connected.is_set():
                    self.handle.note("caller: nobody answered in time, giving up")
                    later = [s for s in steps[i + 1:] if isinstance(s, HangUp)]
                    yield from self._hang_up(later[0] if later else HangUp("loop"))
                    return
            elif isinstance(step, Talk):
                for _ in range(_frames(step.seconds)):
                    yield Frame(self._tone(step.hz), talking=True)
            elif isinstance(step, HangUp):
                yield from self._hang_up(step)
                return
            i += 1
        self.handle.note("caller: steps finished, staying on the line")
        while True:
            yield Frame(self.noise())

    def _press(self, step: Press) -> Iterator[Frame]:
        repeats = self.call.dtmf_repeats
        tone_frames = max(_frames(step.tone_s), 1, 4 * (repeats - 1) + 2)
        for k, digit in enumerate(step.digits.upper()):
            for n in range(tone_frames):
                events = []
                if n == 0:
                    events = ["/", digit]
                elif n % 4 == 0 and n // 4 < repeats:
                    events = [digit]
                if n == tone_frames - 1:
                    events.append("~")
                yield Frame(self._tone(DTMF_FREQS[digit], amplitude=0.25), events,
                            talking=True)
            self.handle.note(f"caller pressed {digit}")
            if k < len(step.digits) - 1 or step.gap:
                for _ in range(_frames(step.gap)):
                    yield Frame(self.noise())

    def _hang_up(self, step: HangUp) -> Iterator[Frame]:
        self.handle.outcome = self.handle.outcome or "hung_up"
        self.handle.caller_hung_up.set()
        self.handle.note(f"caller hung up ({step.how})")
        how = step.how
        if how in ("loop", "polarity"):
            code = "l" if how == "loop" else "L"
            # Loop current reporting is a Conexant feature (-STE); the USR modem says nothing.
            first = [code] if self.dialect == "conexant" or how == "polarity" else []
            yield Frame(self.noise(), first)
            for _ in range(_frames(self.call.line_dead_s)):
                yield Frame(self.noise())
            yield from self._dial_tone()
        elif how == "dial":
            yield from self._dial_tone()
        elif how == "busy":
            while True:  # 480+620 Hz, 0.5 s on, 0.5 s off; the modem reports each burst
                for n in range(25):
                    yield Frame(self._tone((480, 620), amplitude=0.2), ["b"] if n == 0 else [],
                                talking=True)
                for _ in range(25):
                    yield Frame(self.noise())
        else:  # silence: the caller just goes quiet
            while True:
                yield Frame(self.noise())

    def _dial_tone(self) -> Iterator[Frame]:
        n = 0
        while True:  # 350+440 Hz continuous; the modem reports it about every 2 s
            yield Frame(self._tone((350, 440), amplitude=0.2), ["d"] if n % 100 == 0 else [],
                        talking=True)
            n += 1


def dial_tone_frames(seed: int = 0) -> Iterator[Frame]:
    """An idle line off-hook with nobody on it: dial tone with the modem's ``DLE d`` reports."""
    handle = SimCallHandle(SimCall(number=None))
    return CallerVoice(SimCall(number=None), handle, dialect="conexant", seed=seed)._dial_tone()
