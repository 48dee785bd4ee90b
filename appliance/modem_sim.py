"""A V.253 voice modem on a pseudo-terminal: the stand-in for a USB voice modem on a phone line.

Product code: the demo and ``callbox simulate`` run on it, and ``callbox modem-sim`` starts one
standalone. Any program opening ``ModemSimulator.port`` with pyserial sees a Conexant CX93001
(``dialect="conexant"``) or a U.S. Robotics USR5637 (``dialect="usr"``) as described in
``shared/reference/voice-modem.md``: AT command framing with echo and verbose/numeric results,
identification, the ``+VSM`` lists, RING and caller ID in the vendor's spelling, full-duplex
``+VTR`` (and ``+VTX``/``+VRX``) streams paced at 8000 samples/s with DLE shielding both ways,
DTMF and hang-up events, and DTR drop (the client closing the port) returning it to on-hook.

A scripted caller (``SimCall``) rings the line, sends caller ID, and once the line is off-hook
runs its steps: wait, press keys, say audio, play a tone, wait for a staff member, talk, hang up.
"""

from __future__ import annotations

import argparse
import errno
import os
import random
import select
import signal
import sys
import termios
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from appliance import pcm

DLE, ETX, SUB, CAN = 0x10, 0x03, 0x1A, 0x18
TICK_S = 0.02
TICK_SAMPLES = 160
PLAYOUT_LIMIT = 4000  # samples buffered from the host before we stop reading (back-pressure)
OUT_LIMIT = 1600  # bytes (0.2 s of audio) waiting for the host before the oldest are dropped

RESULT_CODES = {"OK": 0, "CONNECT": 1, "RING": 2, "NO CARRIER": 3, "ERROR": 4,
                "NO DIAL TONE": 6, "NO DIALTONE": 6, "BUSY": 7, "NO ANSWER": 8}

DIALECTS = {
    "conexant": {
        "ati0": "56000",
        "ati3": "CX93001-EIS_V0.2013-V92",
        "gmi": "CONEXANT",
        "gmm": "CX93001",
        "fclass": "0,1,1.0,2,8",
        "vsm_list": ['0,"SIGNED PCM",8,0,8000,0,0', '1,"UNSIGNED PCM",8,0,8000,0,0',
                     '129,"IMA ADPCM",4,0,8000,0,0', '130,"UNSIGNED PCM",8,0,8000,0,0',
                     '131,"Mu-Law",8,0,8000,0,0', '132,"A-Law",8,0,8000,0,0',
                     '133,"14 bit PCM",14,0,8000,0,0'],
        "vsm_formats": {0: pcm.S8, 1: pcm.U8, 130: pcm.U8, 131: pcm.ULAW, 132: pcm.ALAW},
        "vsm_other": {129, 133},
        "vsm_default": "1,8000,0,0",
        "rates": {8000},
        "cid_sep": " = ",
        "no_dial_tone": "NO DIAL TONE",
        "action_test_error": True,
        "silence_events": False,  # the Zoom 3095 accepts +VSD but never reports silence
        "vls_labels": {0, 1, 4, 5, 6, 8, 9, 11, 13},
    },
    "usr": {
        "ati0": "5601",
        "ati3": "U.S. Robotics 56K FAX USB V1.2.23",
        "gmi": "U.S. Robotics",
        "gmm": "USR5637",
        "fclass": "0,1,1.0,2,2.0,8",
        "vsm_list": ['128,"8-BIT LINEAR",(7200,8000,11025)', '129,"16-BIT LINEAR",(7200,8000,11025)',
                     '130,"8-BIT ALAW",(8000)', '131,"8-BIT ULAW",(8000)',
                     '132,"IMA ADPCM",(7200,8000,11025)'],
        "vsm_formats": {128: pcm.U8, 130: pcm.ALAW, 131: pcm.ULAW},
        "vsm_other": {129, 132},
        "vsm_default": "129,8000",
        "rates": {7200, 8000, 11025},
        "cid_sep": "=",
        "no_dial_tone": "NO DIALTONE",
        "action_test_error": False,
        "silence_events": True,
        "vls_labels": {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    },
}

VOICE_COMMANDS = {"+VSM", "+VLS", "+VTX", "+VRX", "+VTR", "+VSD", "+VIT", "+VGT", "+VGR",
                  "+VTD", "+VTS", "+VRA", "+VRN", "+VNH", "+VDR", "+VSP", "+VGS"}
ACTION_COMMANDS = {"+VTX", "+VRX", "+VTR", "+VTS"}


# -- the caller's script ----------------------------------------------------------------------

@dataclass
class Wait:
    seconds: float


@dataclass
class Press:
    digits: str
    gap: float = 0.3
    repeats: int = 1  # how many times the modem repeats each digit inside its /…~ group


@dataclass
class Say:
    samples: np.ndarray  # int16 at 8 kHz


@dataclass
class Tone:
    hz: float
    seconds: float


@dataclass
class AwaitAnswer:
    timeout: float = 120.0


@dataclass
class Talk:
    seconds: float
    hz: float = 600.0


@dataclass
class HangUp:
    how: str = "loop"  # loop | polarity | busy | dial | silence


@dataclass
class SimCall:
    number: str | None = "5551234567"
    name: str | None = "DOE JOHN"
    cid_before_first_ring: bool = False
    ring_period: float = 6.0
    steps: list = field(default_factory=list)
    max_rings: int = 10
    fax: bool = False  # the caller is a fax machine sending CNG tones


class SimCallHandle:
    """What a test or the harness can see of one simulated call."""

    def __init__(self, call: SimCall):
        self.call = call
        self.answered = threading.Event()
        self.staff_connected = threading.Event()
        self.done = threading.Event()
        self.outcome: str | None = None
        self.events: list[tuple[float, str]] = []
        self.answered_at: float | None = None
        self.first_audio_at: float | None = None  # first non-silent sample from the host
        self._heard: list[np.ndarray] = []
        self._lock = threading.Lock()

    @property
    def heard(self) -> np.ndarray:
        with self._lock:
            if not self._heard:
                return np.zeros(0, dtype=np.int16)
            return np.concatenate(self._heard)

    def _hear(self, samples: np.ndarray) -> None:
        with self._lock:
            self._heard.append(samples)

    def _log(self, text: str) -> None:
        self.events.append((time.monotonic(), text))

    def _finish(self, outcome: str) -> None:
        if not self.done.is_set():
            self.outcome = outcome
            self._log(f"done: {outcome}")
            self.done.set()


class _CallerRun:
    """Runs a caller's steps against the simulator's clock (called every 20 ms tick)."""

    def __init__(self, handle: SimCallHandle, rng: random.Random):
        self.handle = handle
        self.steps = deque(handle.call.steps)
        self.rng = rng
        self.np_rng = np.random.default_rng(rng.randrange(1 << 30))
        self.until = 0.0
        self.audio: deque[np.ndarray] = deque()
        self.hung_up: str | None = None
        self.next_tone_event = 0.0
        self.waiting_answer_until: float | None = None

    def tick(self, now: float, events: list[bytes]) -> np.ndarray:
        if self.hung_up is None:
            self._advance(now, events)
        if self.hung_up is not None:
            return self._dead_line(now, events)
        if self.audio:
            return self.audio.popleft()
        if self.handle.call.fax and now >= self.next_tone_event:
            events.append(bytes([DLE, ord("c")]))
            self.next_tone_event = now + 3.5
        return self._noise()

    def _advance(self, now: float, events: list[bytes]) -> None:
        while self.steps and now >= self.until and not self.audio:
            step = self.steps[0]
            if isinstance(step, AwaitAnswer):
                if self.waiting_answer_until is None:
                    self.waiting_answer_until = now + step.timeout
                if not self.handle.staff_connected.is_set() and now < self.waiting_answer_until:
                    return
                self.waiting_answer_until = None
                self.steps.popleft()
                continue
            self.steps.popleft()
            self.handle._log(f"step {step}" if not isinstance(step, Say) else "step Say")
            if isinstance(step, Wait):
                self.until = now + step.seconds
            elif isinstance(step, Press):
                for d in step.digits:
                    self._queue_digit(d, step.repeats)
                    self._queue_frames(np.zeros(0, dtype=np.int16), step.gap)
            elif isinstance(step, Say):
                self._queue_frames(np.asarray(step.samples, dtype=np.int16))
            elif isinstance(step, Tone):
                self._queue_frames(pcm.tone(step.hz, step.seconds, amplitude=0.3))
            elif isinstance(step, Talk):
                self._queue_frames(pcm.tone(step.hz, step.seconds, amplitude=0.3))
            elif isinstance(step, HangUp):
                self.hung_up = step.how
                self.until = now
                self.next_tone_event = now
                self.handle._log(f"caller hung up ({step.how})")
                return

    def _queue_digit(self, digit: str, repeats: int) -> None:
        # The DTMF report travels with the next audio frame: DLE / then DLE digit … then DLE ~.
        self.audio.append(("dtmf", digit, repeats))  # type: ignore[arg-type]

    def _queue_frames(self, samples: np.ndarray, pad_seconds: float = 0.0) -> None:
        if pad_seconds:
            samples = np.concatenate([samples, self._noise(int(pad_seconds * pcm.LINE_RATE))])
        for start in range(0, len(samples), TICK_SAMPLES):
            frame = samples[start:start + TICK_SAMPLES]
            if len(frame) < TICK_SAMPLES:
                frame = np.concatenate([frame, self._noise(TICK_SAMPLES - len(frame))])
            self.audio.append(frame)

    def _noise(self, n: int = TICK_SAMPLES) -> np.ndarray:
        """Low-level line noise: a live line is never digital silence."""
        return self.np_rng.normal(0.0, 90.0, n).astype(np.int16)

    def _dead_line(self, now: float, events: list[bytes]) -> np.ndarray:
        how = self.hung_up
        if now >= self.next_tone_event:
            code = {"loop": "l", "polarity": "L", "busy": "b", "dial": "d"}.get(how)
            if code and self.next_tone_event == self.until:
                events.append(bytes([DLE, ord(code)]))
                self.next_tone_event = now + 2.0
            elif how in ("loop", "polarity", "dial"):
                events.append(bytes([DLE, ord("d")]))  # the exchange returns dial tone
                self.next_tone_event = now + 2.0
            elif how == "busy":
                events.append(bytes([DLE, ord("b")]))
                self.next_tone_event = now + 1.0
            else:
                self.next_tone_event = now + 3600
        return np.zeros(TICK_SAMPLES, dtype=np.int16)


# -- the modem ----------------------------------------------------------------------------

class ModemSimulator:
    """One simulated voice modem on a pseudo-terminal, served by a background thread."""

    def __init__(self, *, name: str = "sim", dialect: str = "conexant",
                 faults: dict | None = None, seed: int | None = None):
        if dialect not in DIALECTS:
            raise ValueError(f"unknown modem dialect {dialect!r}; use one of {sorted(DIALECTS)}")
        self.name = name
        self.dialect = dialect
        self.d = DIALECTS[dialect]
        self.faults = dict(faults or {})
        self.rng = random.Random(seed)
        self.port: str = ""
        self.outbound_behaviour: dict = {"default": "answer"}
        self.commands: list[str] = []  # every command line received, for tests
        self.replugged = threading.Event()
        self._master: int | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._lock = threading.Lock()
        self._pending_calls: deque[SimCallHandle] = deque()
        self._out = bytearray()
        self._line = bytearray()
        self._connected = False
        self._reset_state(power_on=True)

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> str:
        self._open_pty()
        self._running.set()
        self._thread = threading.Thread(target=self._run, name=f"modem-sim-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_pty()
        with self._lock:
            if self.call is not None:
                self.call._finish("simulator_stopped")
            while self._pending_calls:
                self._pending_calls.popleft()._finish("simulator_stopped")

    def unplug(self) -> None:
        """The USB modem disappears: the port goes away and open handles fail."""
        with self._lock:
            if self.call is not None:
                self.call._finish("line_lost")
                self.call = None
            self._close_pty()
            self._reset_state(power_on=True)

    def replug(self) -> str:
        """The modem comes back (on a new device path, as USB re-enumeration can do)."""
        with self._lock:
            self._open_pty()
            self._reset_state(power_on=True)
        self.replugged.set()
        return self.port

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        self.port = os.ttyname(slave)
        os.close(slave)
        self._master = master
        self._connected = False

    def _close_pty(self) -> None:
        if self._master is not None:
            try:
                os.close(self._master)
            except OSError:
                pass
            self._master = None

    def place_call(self, call: SimCall) -> SimCallHandle:
        handle = SimCallHandle(call)
        with self._lock:
            self._pending_calls.append(handle)
        return handle

    # -- state ------------------------------------------------------------------------
    def _reset_state(self, power_on: bool = False) -> None:
        self.echo = True
        self.verbose = True
        self.fclass = 0
        self.vcid = 0
        self.ste = 0
        self.vsm = self.d["vsm_default"]
        self.fmt = pcm.U8 if self.dialect == "conexant" else None
        self.off_hook = False
        self.stream: str | None = None  # None | "vtx" | "vrx" | "vtr"
        self.vsd = (128, 0)
        self.vit = 0
        self.stuck = False
        self._playout = np.zeros(0, dtype=np.int16)
        self._in_dle = False
        self._etx_pending = False
        self._underrun = False
        self._next_tick = 0.0
        if power_on:
            self.call: SimCallHandle | None = None
            self._ring: dict | None = None
            self._run_state: _CallerRun | None = None

    # -- main loop ----------------------------------------------------------------------
    def _run(self) -> None:
        while self._running.is_set():
            with self._lock:
                master = self._master
            if master is None:
                self._running.wait(0.02)  # unplugged: nothing to serve until replugged
                continue
            now = time.monotonic()
            timeout = self._next_deadline(now)
            try:
                readable = select.select([master], [], [], timeout)[0]
            except (OSError, ValueError):
                continue
            with self._lock:
                if self._master != master:
                    continue
                if readable and self._may_read():
                    self._read(master)
                now = time.monotonic()
                self._start_pending_call(now)
                self._ring_tick(now)
                self._stream_tick(now)
                self._flush(master)

    def _next_deadline(self, now: float) -> float:
        deadlines = [now + 0.05]
        if self.off_hook:
            deadlines.append(self._next_tick)
        if self._ring is not None:
            deadlines.append(self._ring["next"])
        return max(0.0, min(deadlines) - now)

    def _may_read(self) -> bool:
        return not (self.stream in ("vtx", "vtr") and len(self._playout) > PLAYOUT_LIMIT)

    def _read(self, master: int) -> None:
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                self._dtr_drop()
                self._running.wait(0.01)  # no client holds the port open; back off
                return
            raise
        if not data:
            return
        self._connected = True
        if self.stream is not None:
            self._stream_input(data)
        else:
            self._command_input(data)

    def _dtr_drop(self) -> None:
        """The client closed the port: DTR drops, the modem hangs up (&D2) and forgets streams."""
        if not self._connected:
            return
        self._connected = False
        self._line.clear()
        self._out.clear()
        if self.off_hook and self.call is not None:
            self.call._finish("engine_hung_up" if self._run_state is None or
                              self._run_state.hung_up is None else "hung_up")
            self.call = None
            self._run_state = None
        self.off_hook = False
        self.stream = None
        self.stuck = False
        self.fclass = 0

    def _send(self, data: bytes) -> None:
        self._out += data
        if len(self._out) > OUT_LIMIT:
            del self._out[:len(self._out) - OUT_LIMIT]

    def _flush(self, master: int) -> None:
        if not self._out:
            return
        try:
            n = os.write(master, bytes(self._out))
            del self._out[:n]
        except BlockingIOError:
            pass
        except OSError:
            self._out.clear()  # nobody has the port open: the bytes are lost, as on a wire

    # -- responses ----------------------------------------------------------------------
    def _result(self, text: str) -> None:
        if self.verbose:
            self._send(f"\r\n{text}\r\n".encode())
        else:
            self._send(f"{RESULT_CODES.get(text, 4)}\r".encode())

    def _info(self, text: str) -> None:
        self._send(f"\r\n{text}\r\n".encode() if self.verbose else f"{text}\r\n".encode())

    # -- command mode -----------------------------------------------------------------
    def _command_input(self, data: bytes) -> None:
        for byte in data:
            if byte in (0x0D,):
                line = self._line.decode("ascii", "replace")
                self._line.clear()
                if self.echo:
                    self._send(line.encode("ascii", "replace") + b"\r")
                self._command_line(line.strip())
            elif byte == 0x0A:
                continue
            elif byte == DLE:
                continue  # a stray DLE command in command mode is ignored
            elif len(self._line) < 256:
                self._line.append(byte)

    def _command_line(self, line: str) -> None:
        if not line:
            return
        self.commands.append(line)
        if not line[:2].upper() == "AT":
            return  # not a command: a real modem ignores it
        fault = self._fault_for(line)
        if fault == "silent":
            return
        if fault == "error":
            self._result("ERROR")
            return
        result = self._execute(line[2:])
        if result is not None:
            self._result(result)

    def _fault_for(self, line: str) -> str | None:
        upper = line.upper()
        for key, kind in (("error_on", "error"), ("silent_on", "silent")):
            target = self.faults.get(key)
            if not target:
                continue
            targets = [target] if isinstance(target, str) else list(target)
            for t in targets:
                t = t.upper()
                if upper == t or (t.startswith("AT") and t[2:] and t[2:] in upper[2:].split(";")) \
                        or (t.startswith("AT") and upper[2:].startswith(t[2:]) and
                            (len(upper) == len(t) or upper[len(t)] == ";")):
                    return kind
        return None

    def _execute(self, rest: str) -> str | None:
        """Runs every command of one AT line; returns the final result (None = sent already)."""
        i = 0
        s = rest
        while i < len(s):
            c = s[i]
            if c in " ;":
                i += 1
                continue
            if c in "+-#!":
                j = i + 1
                while j < len(s) and (s[j].isalnum() or s[j] in ".") and s[j] != ";":
                    j += 1
                name = s[i:j].upper()
                k = s.find(";", j)
                k = len(s) if k < 0 else k
                arg = s[j:k]
                i = k + 1
                result = self._extended(name, arg)
            elif c == "&":
                name = s[i:i + 2].upper()
                j = i + 2
                while j < len(s) and s[j].isdigit():
                    j += 1
                result = "OK" if name in ("&F", "&W", "&D", "&C", "&K", "&V") else "ERROR"
                if name == "&F":
                    self._reset_state()
                    self.vcid = 0
                i = j
            elif c.upper() == "D":
                return self._dial(s[i + 1:])
            elif c.upper() == "S":
                j = i + 1
                while j < len(s) and s[j].isdigit():
                    j += 1
                if j < len(s) and s[j] == "?":
                    self._info("000")
                    j += 1
                elif j < len(s) and s[j] == "=":
                    j += 1
                    while j < len(s) and s[j].isdigit():
                        j += 1
                result = "OK"
                i = j
            elif c.isalpha():
                letter = c.upper()
                j = i + 1
                while j < len(s) and s[j].isdigit():
                    j += 1
                value = s[i + 1:j]
                i = j
                result = self._basic(letter, value)
            else:
                return "ERROR"
            if result == "ERROR":
                return "ERROR"
            if result in ("CONNECT", None):
                return result
        return "OK"

    def _basic(self, letter: str, value: str) -> str | None:
        n = int(value) if value else 0
        if letter == "E":
            self.echo = n == 1
        elif letter == "V":
            self.verbose = n == 1
        elif letter == "Z":
            self._reset_state()
            self.vcid = 0
            self.ste = 0
        elif letter == "I":
            if n == 0:
                self._info(self.d["ati0"])
            elif n == 3:
                self._info(self.d["ati3"])
            else:
                self._info(self.d["gmm"])
        elif letter == "H":
            self._go_on_hook()
            self.fclass = 0
        elif letter == "A":
            return "NO CARRIER"
        elif letter in "MLQXO":
            pass
        else:
            return "ERROR"
        return "OK"

    def _extended(self, name: str, arg: str) -> str | None:
        if name in VOICE_COMMANDS and self.fclass != 8:
            return "ERROR"
        if arg == "=?" and name in ACTION_COMMANDS and self.d["action_test_error"]:
            return "ERROR"
        if name == "+FCLASS":
            if arg == "=?":
                self._info(self.d["fclass"])
            elif arg == "?":
                self._info(str(self.fclass))
            elif arg.startswith("="):
                value = arg[1:]
                if value not in ("0", "1", "1.0", "2", "2.0", "8"):
                    return "ERROR"
                self.fclass = 8 if value == "8" else 0
                if self.fclass != 8:
                    self._go_on_hook()
            return "OK"
        if name in ("+GMI", "+GMM", "+GMR"):
            self._info({"+GMI": self.d["gmi"], "+GMM": self.d["gmm"],
                        "+GMR": self.d["ati3"]}[name])
            return "OK"
        if name == "+VCID":
            if arg == "=?":
                self._info("(0-2)")
            elif arg == "?":
                self._info(str(self.vcid))
            elif arg in ("=0", "=1", "=2"):
                self.vcid = int(arg[1])
            else:
                return "ERROR"
            return "OK"
        if name == "+GCI":
            if arg == "?":
                self._info("+GCI: B5")
            return "OK"
        if name == "+VSM":
            return self._vsm(arg)
        if name == "+VLS":
            return self._vls(arg)
        if name in ("+VTX", "+VRX", "+VTR"):
            if arg == "=?":
                return "OK"
            if not self.off_hook:
                return "ERROR"
            self.stream = name[1:].lower()
            self._playout = np.zeros(0, dtype=np.int16)
            self._next_tick = time.monotonic()
            self._underrun = False
            self._result("CONNECT")
            return None
        if name == "+VSD":
            if arg.startswith("="):
                try:
                    parts = [int(p) for p in arg[1:].split(",")]
                    self.vsd = (parts[0], parts[1] if len(parts) > 1 else 0)
                except ValueError:
                    return "ERROR"
            elif arg == "?":
                self._info(f"{self.vsd[0]},{self.vsd[1]}")
            elif arg == "=?":
                self._info("(0-255),(0-255)")
            return "OK"
        if name == "+VIT":
            if arg.startswith("=") and arg != "=?":
                try:
                    self.vit = int(arg[1:])
                except ValueError:
                    return "ERROR"
            return "OK"
        if name == "+VTS":
            return "OK"
        if name in ("-SCID", "-STE", "-SDR", "+VGT", "+VGR", "+VTD", "+VRA", "+VRN", "+VNH",
                    "+VDR", "+VSP", "+VGS", "!4886", "!4892", "-PV", "+VRID"):
            if name == "-STE" and arg.startswith("=") and arg[1:].isdigit():
                self.ste = int(arg[1:])
            if name in ("-SCID", "-STE", "-SDR", "-PV") and self.dialect != "conexant":
                return "ERROR"
            return "OK"
        return "ERROR"

    def _vsm(self, arg: str) -> str:
        if arg == "=?":
            for entry in self.d["vsm_list"]:
                self._info(entry)
            return "OK"
        if arg == "?":
            self._info(self.vsm)
            return "OK"
        if not arg.startswith("="):
            return "ERROR"
        parts = arg[1:].split(",")
        try:
            code = int(parts[0])
            rate = int(parts[1]) if len(parts) > 1 and parts[1] else 8000
        except ValueError:
            return "ERROR"
        if code not in self.d["vsm_formats"] and code not in self.d["vsm_other"]:
            return "ERROR"
        if rate not in self.d["rates"]:
            return "ERROR"
        self.vsm = arg[1:]
        self.fmt = self.d["vsm_formats"].get(code, pcm.U8)
        return "OK"

    def _vls(self, arg: str) -> str:
        if arg == "=?":
            self._info(",".join(str(v) for v in sorted(self.d["vls_labels"])))
            return "OK"
        if arg == "?":
            self._info("1" if self.off_hook else "0")
            return "OK"
        try:
            value = int(arg[1:])
        except ValueError:
            return "ERROR"
        if value not in self.d["vls_labels"]:
            return "ERROR"
        if value in (1, 5, 9, 13):
            self._go_off_hook()
        elif value == 0:
            self._go_on_hook()
        return "OK"

    def _go_off_hook(self) -> None:
        if self.off_hook:
            return
        self.off_hook = True
        self._next_tick = time.monotonic()
        if self.call is not None and self._ring is not None:
            self._ring = None
            self.call.answered_at = time.monotonic()
            self.call.answered.set()
            self.call._log("answered (off-hook)")
            self._run_state = _CallerRun(self.call, self.rng)

    def _go_on_hook(self) -> None:
        if self.off_hook and self.call is not None and self._run_state is not None:
            hung = self._run_state.hung_up is not None
            self.call._finish("hung_up" if hung else "engine_hung_up")
            self.call = None
            self._run_state = None
        self.off_hook = False
        self.stream = None

    def _dial(self, rest: str) -> str:
        number = "".join(ch for ch in rest if ch.isdigit() or ch in "*#")
        behaviour = self.outbound_behaviour.get(number, self.outbound_behaviour.get("default"))
        if behaviour == "busy":
            return "BUSY"
        if behaviour == "no_answer":
            return "NO ANSWER"
        if behaviour == "no_dial_tone":
            return self.d["no_dial_tone"]
        if behaviour == "no_carrier":
            return "NO CARRIER"
        self.off_hook = True
        self._next_tick = time.monotonic()
        return "OK"

    # -- incoming calls ---------------------------------------------------------------
    def _start_pending_call(self, now: float) -> None:
        if self.call is not None or not self._pending_calls or self.off_hook:
            return
        self.call = self._pending_calls.popleft()
        c = self.call.call
        self._ring = {"count": 0, "next": now, "cid_at": None, "cid_sent": False}
        if c.cid_before_first_ring:
            self._send_cid()
            self._ring["cid_sent"] = True
            self._ring["next"] = now + 0.5
        self.call._log("ringing")

    def _ring_tick(self, now: float) -> None:
        ring = self._ring
        if ring is None or self.call is None:
            return
        c = self.call.call
        if ring["cid_at"] is not None and not ring["cid_sent"] and now >= ring["cid_at"]:
            self._send_cid()
            ring["cid_sent"] = True
        if now < ring["next"]:
            return
        if ring["count"] >= c.max_rings:
            self.call._finish("gave_up")
            self.call = None
            self._ring = None
            return
        ring["count"] += 1
        if self.fclass == 8 and self.dialect == "conexant":
            self._send(bytes([DLE, ord("R")]))
        else:
            self._result("RING")
        self.call._log(f"RING {ring['count']}")
        if ring["count"] == 1 and not ring["cid_sent"]:
            ring["cid_at"] = now + min(1.0, c.ring_period * 0.3)
        ring["next"] = now + c.ring_period

    def _send_cid(self) -> None:
        c = self.call.call
        if self.vcid != 1 or c.number is None:
            return
        sep = self.d["cid_sep"]
        stamp = time.localtime()
        lines = [f"DATE{sep}{stamp.tm_mon:02d}{stamp.tm_mday:02d}",
                 f"TIME{sep}{stamp.tm_hour:02d}{stamp.tm_min:02d}",
                 f"NMBR{sep}{c.number}"]
        if c.name is not None or c.number in ("P", "O"):
            lines.append(f"NAME{sep}{c.name if c.name is not None else c.number}")
        self._send(("\r\n" + "\r\n".join(lines) + "\r\n").encode("ascii", "replace"))
        self.call._log("caller ID sent")

    # -- streaming ------------------------------------------------------------------------
    def _stream_input(self, data: bytes) -> None:
        samples = bytearray()
        for byte in data:
            if self._in_dle:
                self._in_dle = False
                if byte == DLE:
                    samples.append(DLE)
                elif byte == 0x5E and self.stream == "vtr" and not self.stuck:
                    self._end_stream()
                    return
                elif byte == 0x21 and self.stream == "vrx" and not self.stuck:
                    self._end_stream()
                    return
                elif byte == ETX and self.stream == "vtx" and not self.stuck:
                    self._etx_pending = True
                elif byte == CAN:
                    self._playout = np.zeros(0, dtype=np.int16)
                continue
            if byte == DLE:
                self._in_dle = True
                continue
            if self.stream in ("vtx", "vtr"):
                samples.append(byte)
        if samples and self.fmt:
            decoded = pcm.decode(self.fmt, bytes(samples))
            self._playout = np.concatenate([self._playout, decoded])

    def _end_stream(self) -> None:
        self._send(bytes([DLE, ETX]))
        self.stream = None
        self._in_dle = False
        self._result("OK")

    def _stream_tick(self, now: float) -> None:
        if not self.off_hook:
            return
        while now >= self._next_tick:
            self._next_tick += TICK_S
            if now - self._next_tick > 0.5:  # fell far behind (debugger, load): skip ahead
                self._next_tick = now
            self._one_tick(time.monotonic())

    def _one_tick(self, now: float) -> None:
        events: list[bytes] = []
        caller = None
        if self._run_state is not None:
            frame = self._run_state.tick(now, events)
            while isinstance(frame, tuple):  # a queued DTMF report
                _, digit, repeats = frame
                events.append(bytes([DLE, ord("/")]) +
                              bytes([DLE, ord(digit)]) * max(1, repeats) +
                              bytes([DLE, ord("~")]))
                self._run_state.handle._log(f"DTMF {digit}")
                frame = self._run_state.tick(now, events)
            caller = frame
        if self.stream in ("vtx", "vtr"):
            self._consume_playout()
        if self.stream in ("vrx", "vtr"):
            if caller is None:
                caller = np.zeros(TICK_SAMPLES, dtype=np.int16)
            self._send(self._shield(pcm.encode(self.fmt or pcm.U8, caller)))
        for ev in events:
            self._send(ev)
        if self.stream == "vtx" and self._etx_pending and len(self._playout) == 0:
            self._etx_pending = False
            self.stream = None
            self._result("OK")

    def _consume_playout(self) -> None:
        played = self._playout[:TICK_SAMPLES]
        self._playout = self._playout[TICK_SAMPLES:]
        if len(played) < TICK_SAMPLES:
            if not self._underrun and not self._etx_pending:
                self._send(bytes([DLE, ord("u")]))
                self._underrun = True
            played = np.concatenate([played, np.zeros(TICK_SAMPLES - len(played), np.int16)])
        else:
            self._underrun = False
        if self.call is not None:
            if self.call.first_audio_at is None and np.max(np.abs(played)) > 1024:
                self.call.first_audio_at = time.monotonic()
            self.call._hear(played)

    def _shield(self, data: bytes) -> bytes:
        if DLE not in data:
            return data
        if self.dialect == "conexant" and self.rng.random() < 0.5:
            data = data.replace(bytes([DLE, DLE]), bytes([0xFF, 0xFE]))  # mark pairs
            out = data.replace(bytes([DLE]), bytes([DLE, DLE]))
            return out.replace(bytes([0xFF, 0xFE]), bytes([DLE, SUB]))
        return data.replace(bytes([DLE]), bytes([DLE, DLE]))


# -- callbox modem-sim ----------------------------------------------------------------------

def main_modem_sim(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="callbox modem-sim",
        description="Start one simulated V.253 voice modem on a pseudo-terminal and print its "
                    "path; point any program at it as at /dev/ttyACM0.")
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="conexant")
    parser.add_argument("--call", metavar="NUMBER",
                        help="ring in with this caller ID a moment after starting "
                             "('none' for no caller ID, 'P' private)")
    parser.add_argument("--name", default="DOE JOHN", help="caller name for --call")
    parser.add_argument("--ring-period", type=float, default=6.0)
    parser.add_argument("--keys", default="", help="keys the caller presses once answered")
    parser.add_argument("--talk", type=float, default=5.0, help="seconds the caller talks")
    args = parser.parse_args(argv)
    sim = ModemSimulator(name="modem-sim", dialect=args.dialect)
    print(sim.start(), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.call:
        number = None if args.call.lower() == "none" else args.call
        steps = [Wait(1.0)] + ([Press(args.keys)] if args.keys else []) + \
                [Talk(args.talk), HangUp("loop")]
        handle = sim.place_call(SimCall(number=number, name=args.name, steps=steps,
                                        ring_period=args.ring_period))

        def report() -> None:
            handle.done.wait()
            print(f"call ended: {handle.outcome}", file=sys.stderr, flush=True)

        threading.Thread(target=report, daemon=True).start()
    stop.wait()
    sim.stop()
    return 0
