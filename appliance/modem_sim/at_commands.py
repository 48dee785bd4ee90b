"""The simulated modem's AT command set: running one command line (faults included) and the
handler of every command, per dialect (reference sections 2-5 and 9).

A mixin of ``ModemSimulator``: handlers read and change the simulator's settings ``s`` and
hook/stream state, write answers with ``_info``/``_result``, and may be generators that yield
seconds to wait (``+VTS`` tones, dialling, delayed answers).
"""

from __future__ import annotations

import inspect
import re
import time

import numpy as np

from appliance import pcm
from appliance.modem_commands import split_tone_list
from appliance.modem_sim.caller import (DTMF_FREQS, CallerVoice, LineCall, SimCall,
                                        SimCallHandle)
from appliance.modem_sim.commands import (COUNTRIES, FCLASS_LIST, FCLASS_VALUES, IDENTITY,
                                          NO_DIAL_TONE, VLS_LINES, Command, CommandSyntaxError,
                                          fault_matches, split_line)
from appliance.modem_sim.wire import vsm_list_line

RING_GAP_CLEAR = 8.0  # S1 clears this long after the last ring; no dialling before that
OUTBOUND_RESULTS = ("answer", "busy", "no_answer", "no_dial_tone", "no_carrier")
PROFILE_KEYS = ("E", "V", "Q", "X", "M", "L", "&D", "&C", "&K", "S")


def normalise_outbound(plan) -> dict:
    """One entry of ``outbound_behaviour`` ("busy", or {"result": "answer", "rings": 2,
    "ring_period": 6.0, "steps": [...]}) with defaults filled in; ValueError if unusable."""
    if isinstance(plan, str):
        plan = {"result": plan}
    if not isinstance(plan, dict):
        raise ValueError(f"An outbound behaviour must be one of {', '.join(OUTBOUND_RESULTS)} "
                         f"or a mapping with a 'result', not {plan!r}.")
    unknown = sorted(set(plan) - {"result", "rings", "ring_period", "steps"})
    if unknown:
        raise ValueError(f"Outbound behaviour has an unknown setting {unknown[0]!r}; use "
                         f"result, rings, ring_period and steps.")
    plan = {"result": "answer", "rings": 2, "ring_period": 6.0, "steps": (), **plan}
    if plan["result"] not in OUTBOUND_RESULTS:
        raise ValueError(f"Outbound result {plan['result']!r} is not known; use one of "
                         f"{', '.join(OUTBOUND_RESULTS)}.")
    if not isinstance(plan["rings"], int) or plan["rings"] < 1:
        raise ValueError("Outbound 'rings' must be a whole number of at least 1.")
    SimCall(ring_period=plan["ring_period"], steps=tuple(plan["steps"]))  # checks both
    return plan


def factory_settings(dialect: str) -> dict:
    """Settings after AT&F (and after power-on)."""
    return {
        "E": 1, "V": 1, "Q": 0, "X": 4, "M": 1, "L": 1, "&D": 2, "&C": 1, "&K": 3,
        "S": {0: 0, 2: 43, 3: 13, 4: 10, 5: 8, 6: 2, 7: 50, 8: 2, 10: 14},
        "fclass": "0",
        "vsm": (1, 8000, 0, 0) if dialect == "conexant" else (129, 8000, 0, 0),
        "vsd": [128, 0], "vit": [0], "vgt": [128], "vgr": [128], "vtd": [100],
        "vra": [50], "vrn": [10], "vnh": [0], "vsp": [0], "vdr": [0, 0],
        "vcid": [0], "scid": [0], "ste": [0],
    }


# name -> (settings key, ranges, "=?" text, only in class 8, conexant only)
_PARAMS = {
    "+VSD": ("vsd", [(0, 255), (0, 255)], "(0-255),(0-255)", True, False),
    "+VIT": ("vit", [(0, 255)], "(0-255)", True, False),
    "+VGT": ("vgt", [(0, 255)], "(0-255)", True, False),
    "+VGR": ("vgr", [(0, 255)], "(0-255)", True, False),
    "+VTD": ("vtd", [(0, 255)], "(0-255)", True, False),
    "+VRA": ("vra", [(0, 255)], "(0-255)", True, False),
    "+VRN": ("vrn", [(0, 255)], "(0-255)", True, False),
    "+VNH": ("vnh", [(0, 2)], "(0-2)", True, False),
    "+VSP": ("vsp", [(0, 1)], "(0,1)", True, False),
    "+VDR": ("vdr", [(0, 1), (0, 6)], "(0-1),(0-6)", True, False),
    "+VCID": ("vcid", [(0, 2)], "(0-2)", False, False),
    "-SCID": ("scid", [(0, 1)], "(0-1)", False, True),
    "-STE": ("ste", [(0, 7)], "(0-7)", False, True),
}
_STREAMS = {"+VTX": "vtx", "+VRX": "vrx", "+VTR": "vtr"}
_TONE_ELEMENT = re.compile(r"\s*(?:(?P<char>[0-9*#A-D!])"
                           r"|\[\s*(?P<f1>\d{1,4})\s*,\s*(?P<f2>\d{1,4})\s*,\s*(?P<dur>\d{1,3})\s*\]"
                           r"|\{\s*(?P<dchar>[0-9*#A-D!])\s*,\s*(?P<ddur>\d{1,3})\s*\})\s*$")


class _Error(Exception):
    """The current command answers ERROR."""


class _DialAborted(Exception):
    """The host typed a character while the modem was dialling."""



class AtCommands:
    """Command interpreter of ``ModemSimulator`` (see the module docstring)."""

    def _matches(self, key: str, body: str, cmd: Command) -> bool:
        value = self.faults.get(key)
        if not value:
            return False
        patterns = [value] if isinstance(value, str) else list(value)
        return any(fault_matches(p, body, cmd) for p in patterns)

    def _execute(self, body: str):
        """Generator running one command line; yields seconds to wait (tones, dialling)."""
        try:
            commands = split_line(body)
        except CommandSyntaxError:
            self._result("ERROR")
            return
        for cmd in commands:
            if self._matches("reset_on", body, cmd):
                self._power_on_reset(from_job=True)
                return
            delays = self.faults.get("delay_on") or {}
            for pattern, seconds in delays.items():
                if fault_matches(pattern, body, cmd):
                    yield float(seconds)
            if self._matches("error_on", body, cmd):
                self._result("ERROR")
                return
            self._truncating = self._matches("truncate_on", body, cmd)
            try:
                outcome = self._dispatch(cmd)
                if inspect.isgenerator(outcome):
                    outcome = yield from outcome
            except (_Error, ValueError):
                self._result("ERROR")
                return
            if outcome is not None:
                self._result(outcome)
                return
            if cmd.name == "Z" or cmd.name == "&F":
                break
        self._result("OK")

    # ------------------------------------------------------------------ command handlers

    def _dispatch(self, cmd: Command):
        name = cmd.name
        if name == "+VRID":
            return self._vrid(cmd)
        if name in _PARAMS:
            return self._param(cmd, *_PARAMS[name])
        if name.startswith("+V"):
            self._need_voice()
            if name in _STREAMS:
                return self._stream_command(cmd, _STREAMS[name])
            handler = {"+VSM": self._vsm, "+VLS": self._vls, "+VTS": self._vts}.get(name)
            if handler is None:
                raise _Error(name)
            return handler(cmd)
        basic = {"E": self._flag, "V": self._flag, "Q": self._flag, "M": self._level,
                 "L": self._level, "X": self._level, "Z": self._z, "&F": self._amp_f,
                 "&W": self._amp_w, "&V": self._amp_v, "&D": self._level, "&C": self._level,
                 "&K": self._level, "I": self._ident, "H": self._h, "A": self._a,
                 "O": lambda c: "NO CARRIER", "D": self._dial,
                 "+FCLASS": self._fclass, "+GCI": self._gci, "+GMI": self._gm, "+GMM": self._gm,
                 "+GMR": self._gm, "-PV": self._gm}
        if name in basic:
            return basic[name](cmd)
        if name.startswith("S") and name[1:].isdigit():
            return self._s_register(cmd)
        if name.startswith("!") and self.dialect == "conexant" and cmd.op == "=":
            if not re.fullmatch(r"[0-9A-F]{1,4}", cmd.args):
                raise _Error(cmd.text)
            return None  # Conexant register pokes (e.g. !4886=00 caller ID type): accepted
        raise _Error(cmd.text)

    def _need_voice(self) -> None:
        if self.s["fclass"] != "8":
            raise _Error("voice command outside +FCLASS=8")

    def _flag(self, cmd: Command):
        value = cmd.args or "0"
        if value not in ("0", "1"):
            raise _Error(cmd.text)
        self.s[cmd.name] = int(value)

    def _level(self, cmd: Command):
        limits = {"M": 3, "L": 3, "X": 4, "&D": 3, "&C": 1, "&K": 6}
        value = int(cmd.args or "0")
        if value > limits[cmd.name]:
            raise _Error(cmd.text)
        self.s[cmd.name] = value

    def _z(self, cmd: Command):
        if cmd.args not in ("", "0", "1"):
            raise _Error(cmd.text)
        self._reset_to(saved=True)

    def _amp_f(self, cmd: Command):
        if cmd.args not in ("", "0"):
            raise _Error(cmd.text)
        self._reset_to(saved=False)

    def _reset_to(self, saved: bool) -> None:
        """ATZ / AT&F: on-hook, class 0, voice settings and +VCID/-SCID/-STE back to 0."""
        self._on_hook("reset command")
        gci = self.s["gci"]
        fresh = factory_settings(self.dialect)
        if saved:
            for key in PROFILE_KEYS:
                fresh[key] = copy_setting(self._saved[key])
        fresh["gci"] = gci
        self.s = fresh

    def _amp_w(self, cmd: Command):
        if cmd.args not in ("", "0", "1"):
            raise _Error(cmd.text)
        self._saved = {k: copy_setting(self.s[k]) for k in PROFILE_KEYS}

    def _amp_v(self, cmd: Command):
        def profile(p):
            regs = " ".join(f"S{k:02d}:{v:03d}" for k, v in sorted(p["S"].items()))
            return (f"E{p['E']} L{p['L']} M{p['M']} Q{p['Q']} V{p['V']} X{p['X']} "
                    f"&C{p['&C']} &D{p['&D']} &K{p['&K']}\r\n{regs}")
        self._info("ACTIVE PROFILE:", *profile(self.s).split("\r\n"), "",
                   "STORED PROFILE 0:", *profile(self._saved).split("\r\n"))

    def _ident(self, cmd: Command):
        key = "I" + (cmd.args or "0")
        text = IDENTITY[self.dialect].get(key)
        if text is None:
            raise _Error(cmd.text)
        self._info(text)

    def _gm(self, cmd: Command):
        text = IDENTITY[self.dialect].get(cmd.name)
        if text is None or cmd.op not in ("", "?"):
            raise _Error(cmd.text)
        self._info(text)

    def _h(self, cmd: Command):
        if cmd.args in ("", "0"):
            self._end_stream(silent=True)
            self._on_hook("ATH")
            if self.dialect == "usr":
                self.s["fclass"] = "0"  # USR documents that ATH returns to class 0
            return None
        if cmd.args == "1":
            self._off_hook()
            return None
        raise _Error(cmd.text)

    def _a(self, cmd: Command):
        if self.s["fclass"] == "8":
            raise _Error("ATA is not the voice way to answer; use AT+VLS=1")
        return self._data_answer()

    def _data_answer(self):
        """ATA in class 0: the modem answers as a data modem; a voice caller hears the answer
        tone and hangs up, the modem finds no carrier."""
        call = self._call
        self.off_hook = True
        self._start_ticks()
        if call is not None and call.state == "ringing":
            call.state = "over"
            call.handle.note("answered as a data modem (answer tone); caller hung up")
            call.handle._finish("hung_up")
            with self._lock:
                self._call = None
        yield 2.0
        self._on_hook("no carrier")
        return "NO CARRIER"

    def _s_register(self, cmd: Command):
        reg = int(cmd.name[1:])
        if reg > 255:
            raise _Error(cmd.text)
        if cmd.op == "?":
            value = self._s1 if reg == 1 else self.s["S"].get(reg, 0)
            self._info(f"{value:03d}")
            return None
        if cmd.op == "=":
            value = int(cmd.args or "0")
            if value > 255 or reg == 1:
                raise _Error(cmd.text)
            self.s["S"][reg] = value
            return None
        raise _Error(cmd.text)

    def _fclass(self, cmd: Command):
        if cmd.op == "=?":
            self._info(FCLASS_LIST[self.dialect])
        elif cmd.op == "?":
            self._info(self.s["fclass"])
        elif cmd.op == "=" and cmd.args in FCLASS_VALUES[self.dialect]:
            if self._stream is not None:
                raise _Error(cmd.text)
            self.s["fclass"] = "8" if cmd.args == "8" else cmd.args
        else:
            raise _Error(cmd.text)

    def _gci(self, cmd: Command):
        if cmd.op == "=?":
            self._info("+GCI: (" + ",".join(COUNTRIES) + ")")
        elif cmd.op == "?":
            self._info(f"+GCI: {self.s['gci']}")
        elif cmd.op == "=" and cmd.args in COUNTRIES:
            self.s["gci"] = self._country = cmd.args
        else:
            raise _Error(cmd.text)

    def _param(self, cmd: Command, key: str, ranges, range_text: str, voice_only: bool,
               conexant_only: bool):
        if conexant_only and self.dialect != "conexant":
            raise _Error(cmd.text)
        if voice_only:
            self._need_voice()
        if cmd.op == "=?":
            self._info(range_text)
        elif cmd.op == "?":
            self._info(",".join(str(v) for v in self.s[key]))
        elif cmd.op == "=":
            values = cmd.ints(ranges)
            self.s[key] = values + self.s[key][len(values):]
        else:
            raise _Error(cmd.text)

    def _vsm(self, cmd: Command):
        if cmd.op == "=?":
            self._info(*(vsm_list_line(fmt, self.dialect) for fmt in self.formats))
            return None
        if cmd.op == "?":
            code, rate, scs, sel = self.s["vsm"]
            self._info(f"{code},{rate},{scs},{sel}" if self.dialect == "conexant"
                       else f"{code},{rate}")
            return None
        if cmd.op != "=" or self._stream is not None:
            raise _Error(cmd.text)
        values = cmd.ints([(0, 255), (0, 65535), (0, 255), (0, 255)])
        fmt = next((f for f in self.formats if f.code == values[0]), None)
        rate = values[1] if len(values) > 1 else 8000
        if fmt is None or rate not in fmt.rates:
            raise _Error(cmd.text)
        values += [0] * (4 - len(values))
        self.s["vsm"] = (values[0], rate, values[2], values[3])
        return None

    def _vls(self, cmd: Command):
        if cmd.op == "=?":
            self._info(*VLS_LINES)
            return None
        if cmd.op == "?":
            self._info("1" if self.off_hook else "0")
            return None
        if cmd.op != "=" or cmd.args not in ("0", "1"):
            raise _Error(cmd.text)
        if cmd.args == "1":
            self._off_hook()
        else:
            self._on_hook("AT+VLS=0")
        return None

    def _vrid(self, cmd: Command):
        if cmd.op != "=" or cmd.args not in ("0", "1"):
            raise _Error(cmd.text)
        if not self._last_cid:
            raise _Error("no caller ID to report")
        if cmd.args == "1":
            self._info(mdmf_hex(self._last_cid))
        else:
            sep = " = " if self.dialect == "conexant" else "="
            self._info(*(f"{t}{sep}{v}" for t, v in self._last_cid))
        return None

    def _vts(self, cmd: Command):
        if cmd.op == "=?":
            self._info("(200-3000),(200-3000),(0-255)")
            return None
        if cmd.op != "=" or not cmd.args:
            raise _Error(cmd.text)
        tones = self._parse_tones(cmd.args)
        return self._play_tones(tones)

    def _parse_tones(self, spec: str) -> list[tuple[tuple[float, ...], float]]:
        tones = []
        for part in split_tone_list(spec):
            m = _TONE_ELEMENT.match(part)
            if not m:
                raise _Error(spec)
            if m.group("f1") is not None:
                f1, f2, dur = int(m.group("f1")), int(m.group("f2")), int(m.group("dur"))
                for f in (f1, f2):
                    if f != 0 and not 200 <= f <= 3000:
                        raise _Error(spec)
                if dur > 255:
                    raise _Error(spec)
                tones.append((tuple(float(f) for f in (f1, f2) if f), dur / 100))
            else:
                char = m.group("char") or m.group("dchar")
                dur = int(m.group("ddur")) if m.group("ddur") else self.s["vtd"][0]
                if dur > 255:
                    raise _Error(spec)
                freqs = () if char == "!" else tuple(float(f) for f in DTMF_FREQS[char])
                tones.append((freqs, dur / 100))
        return tones

    def _play_tones(self, tones):
        total = sum(seconds for _, seconds in tones)
        call = self._call
        if call is not None and call.state == "connected" and self.off_hook:
            for freqs, seconds in tones:
                samples = (pcm.tone(freqs, seconds) if freqs
                           else np.zeros(int(round(seconds * pcm.LINE_RATE)), np.int16))
                call.handle._hear(samples)
        if total > 0:
            yield total
        return None

    def _stream_command(self, cmd: Command, kind: str):
        if cmd.op == "=?":
            if self.dialect == "conexant":
                raise _Error(cmd.text)  # CX93001: test form of action commands is ERROR
            return None
        if cmd.op or not self.off_hook or self._stream is not None:
            raise _Error(cmd.text)
        self._start_stream(kind)
        return "CONNECT"

    # ------------------------------------------------------------------ dialling out

    def _outbound_plan(self, digits: str) -> dict:
        table = self.outbound_behaviour
        return normalise_outbound(table.get(digits, table.get("default", "answer")))

    def _dial(self, cmd: Command):
        text = cmd.args
        stay = text.endswith(";")
        dial = text.rstrip(";").strip()
        if dial[:1] in ("T", "P"):
            dial = dial[1:]
        digits = re.sub(r"[^0-9*#ABCD]", "", dial)
        if not digits or self._stream is not None:
            raise _Error(cmd.text)
        if time.monotonic() - self._last_ring_at < RING_GAP_CLEAR or (
                self._call is not None and self._call.state != "over"):
            return "NO CARRIER"  # S1 not cleared yet: a call is (or was just) ringing in
        plan = self._outbound_plan(digits)
        voice = self.s["fclass"] == "8"
        self.off_hook = True
        self._start_ticks()
        self._job_abortable = True
        try:
            if plan["result"] == "no_dial_tone":
                yield 2.0
                self._on_hook("no dial tone")
                return NO_DIAL_TONE[self.dialect]
            yield 0.1 * len(digits)  # tone dialling
            if plan["result"] == "no_carrier":
                self._on_hook("no carrier")
                return "NO CARRIER"
            if plan["result"] == "busy":
                yield 1.0
                self._on_hook("busy")
                return "BUSY"
            period = float(plan["ring_period"])
            if not voice and not stay:
                yield period
                self._on_hook("no carrier")
                return "NO CARRIER"  # the simulator has no data modem on the far end
            far = SimCall(number=digits, name=None, steps=tuple(plan["steps"]),
                          ring_period=period, max_rings=max(1, int(plan["rings"])))
            handle = SimCallHandle(far)
            self.outbound_calls.append(handle)
            handle.note(f"dialled {digits}")
            if stay:
                self._connect_outbound(far, handle)
                return None
            vra, vrn = self.s["vra"][0] / 10, self.s["vrn"][0]
            if vrn == 0:
                self._connect_outbound(far, handle)
                return None
            if plan["result"] == "no_answer":
                yield int(plan["rings"]) * period
                handle.note("no answer")
                handle._finish("gave_up")
                self._on_hook("no answer")
                return "NO ANSWER"
            rings = 1 if vra == 0 else int(plan["rings"])
            yield (rings - 1) * period + min(2.0, period / 3) + vra
            self._connect_outbound(far, handle)
            return None
        except _DialAborted:
            self._on_hook("dialling aborted")
            return "NO CARRIER"
        finally:
            self._job_abortable = False

    def _connect_outbound(self, far: SimCall, handle: SimCallHandle) -> None:
        voice = CallerVoice(far, handle, dialect=self.dialect, seed=next(self._np_seed))
        line_call = LineCall(far, handle, voice, outbound=True)
        line_call.state = "connected"
        handle.answered.set()
        handle.note("presumed answered (ringback stopped)")
        with self._lock:
            self._call = line_call


def copy_setting(value):
    return dict(value) if isinstance(value, dict) else (list(value) if isinstance(value, list)
                                                        else value)


def mdmf_hex(fields: list[tuple[str, str]]) -> str:
    """+VCID=2: the Bell 202 MDMF packet as hex (message type, length, parameters, checksum)."""
    body = bytearray()
    date = dict(fields).get("DATE", "")
    clock = dict(fields).get("TIME", "")
    if date and clock:
        body += bytes([0x01, 8]) + (date + clock).encode()
    for tag, value in fields:
        if tag in ("NMBR", "DDN_NMBR"):
            if value in ("P", "O"):
                body += bytes([0x04, 1]) + value.encode()
            else:
                body += bytes([0x02 if tag == "NMBR" else 0x03, len(value)]) + value.encode()
        elif tag == "NAME":
            if value in ("P", "O"):
                body += bytes([0x08, 1]) + value.encode()
            else:
                body += bytes([0x07, len(value)]) + value.encode("ascii", "replace")
    packet = bytes([0x80, len(body)]) + body
    checksum = (-sum(packet)) & 0xFF
    return (packet + bytes([checksum])).hex().upper()

