"""The simulated modem's line audio: the 20 ms clock while off-hook, the far end's frames,
the streams (+VTX / +VRX / +VTR) in both directions with DLE handling, the modem's own
detectors (underrun, USR silence) and the stream fault injections.

A mixin of ``ModemSimulator``: it uses the simulator's state (``s``, ``_call``, ``_inbuf``,
``_send`` ...) and is not used on its own.
"""

from __future__ import annotations

import select
import time

import numpy as np

from appliance import pcm
from appliance.modem_sim.caller import FRAME, Frame, dial_tone_frames
from appliance.modem_sim.wire import OutboundShield, WireCodec

TICK = FRAME / pcm.LINE_RATE  # 20 ms
PRIME_SAMPLES = 2 * FRAME  # playout starts once 40 ms are buffered
PLAYOUT_LIMIT = 8000  # 1 s buffered: stop reading the host (back-pressure)
OUT_LIMIT = 32000  # bytes queued to a host that is not reading: further audio is dropped
QUIET_RMS = 300.0  # what the USR silence detector calls quiet


class LineAudio:
    """Line audio and streaming behaviour of ``ModemSimulator`` (see the module docstring)."""

    # ------------------------------------------------------------------ line audio ticks

    def _run_ticks(self, now: float) -> None:
        if self._tick_due is None:
            return
        if now - self._tick_due > 0.2:
            self._tick_due = now  # fell far behind (debugger, overload): do not burst
        while self._tick_due is not None and self._tick_due <= now:
            self._tick_due += TICK
            self._tick()

    def _line_frame(self) -> Frame:
        call = self._call
        if call is not None and call.state == "connected":
            if call.voice_started:
                return call.voice.next_frame()
            return Frame(call.voice.noise())
        if self._dial_tone is None:
            self._dial_tone = dial_tone_frames(next(self._np_seed))
        return next(self._dial_tone)

    def _tick(self) -> None:
        if not self.off_hook:
            self._tick_due = None
            return
        frame = self._line_frame()
        events = list(frame.events)
        events += self._silence_detector(frame)
        if self._job is not None:
            if not self._job_abortable:
                self._held_events += events  # reported once the command has answered
            events = []  # while dialling nothing is reported
        stream = self._stream
        if stream in ("vtx", "vtr") and not self._draining:
            events += self._playout()
        elif stream == "vtx" and self._draining:
            self._playout()
        out = bytearray()
        for code in events:
            out += b"\x10" + code.encode("latin-1")
            if self._call is not None:
                self._call.handle.note(f"event DLE {code}")
        if stream in ("vrx", "vtr"):
            if len(self._out) < OUT_LIMIT:
                audio = self._shield.shield(self._codec_out.encode(frame.samples))
                out += self._inject_stream_faults(audio)
        if out:
            if self.faults.get("split_dle") and b"\x10" in out:
                self._send_split(bytes(out))
            else:
                self._send(bytes(out))
        if stream == "vtx" and self._draining and self._play_count == 0:
            self._stream = None
            self._draining = False
            self._result("OK")
            self._after_command_mode()
        self._check_inactivity()

    def _silence_detector(self, frame: Frame) -> list[str]:
        """USR5637: DLE s after +VSD's sdi tenths of a second of quiet (Conexant: never)."""
        sdi = self.s["vsd"][1] if len(self.s["vsd"]) > 1 else 0
        if self.dialect != "usr" or sdi == 0:
            return []
        quiet = not frame.talking and pcm.rms(frame.samples) < QUIET_RMS
        if not quiet:
            self._quiet_frames = 0
            self._silence_reported = False
            return []
        self._quiet_frames += 1
        if not self._silence_reported and self._quiet_frames * TICK >= sdi / 10:
            self._silence_reported = True
            return ["s"]
        return []

    def _playout(self) -> list[str]:
        """Play 20 ms of what the host sent; DLE u once when the host stops feeding."""
        if not self._play_primed and self._play_count < PRIME_SAMPLES and not self._draining:
            return []
        self._play_primed = True
        take, need = [], FRAME
        while need and self._play:
            head = self._play[0]
            if len(head) <= need:
                take.append(head)
                need -= len(head)
                self._play.pop(0)
            else:
                take.append(head[:need])
                self._play[0] = head[need:]
                need = 0
        played = np.concatenate(take) if take else np.zeros(0, np.int16)
        self._play_count -= len(played)
        call = self._call
        if call is not None and call.state == "connected":
            call.handle._hear(played)
        if need and not self._draining:
            self._play_primed = False
            if self._play_fed and not self._underrun_reported:
                self._underrun_reported = True
                return ["u"]
        return []

    def _check_inactivity(self) -> None:
        vit = self.s["vit"][0]
        if vit and self._job is None and time.monotonic() - self._last_host_activity > vit:
            # +VIT: no data from the host for that long ends the stream and drops the line.
            self._last_host_activity = time.monotonic()
            if self._stream is not None:
                self._end_stream(silent=False)
            self._on_hook("inactivity timer (+VIT)")
            self.s["fclass"] = "0"

    # ------------------------------------------------------------------ stream faults

    def _inject_stream_faults(self, audio: bytes) -> bytes:
        rate = float(self.faults.get("garbage_stream", 0) or 0)
        if rate and self._rng.random() < rate * TICK:
            junk = bytes(self._rng.choice([b for b in range(256) if b != 0x10])
                         for _ in range(self._rng.randint(1, 16)))
            cut = self._rng.randint(0, len(audio))
            while cut and audio[cut - 1] == 0x10:
                cut -= 1
            audio = audio[:cut] + junk + audio[cut:]
        rate = float(self.faults.get("stray_dle", 0) or 0)
        if rate and self._rng.random() < rate * TICK:
            code = self._rng.choice(b"\x00\x01\x02\x04\x05\x06\x07\x08\x09\x0b\x0c\x0e\x0f")
            cut = self._rng.randint(0, len(audio))
            while cut and audio[cut - 1] == 0x10:
                cut -= 1
            audio = audio[:cut] + bytes([0x10, code]) + audio[cut:]
        return audio

    def _send_split(self, data: bytes) -> None:
        start = 0
        while True:
            i = data.find(b"\x10", start)
            if i < 0 or i == len(data) - 1:
                self._send(data[start:])
                return
            self._send(data[start:i + 1])
            self._flush_now()
            start = i + 1

    def _flush_now(self) -> None:
        deadline = time.monotonic() + 0.05
        while self._out and time.monotonic() < deadline and self._client_open:
            self._flush()
            if self._out:
                select.select([], [self._master], [], 0.01)

    def _maybe_garbage_idle(self) -> None:
        rate = float(self.faults.get("garbage_idle", 0) or 0)
        if not rate or self._stream is not None or self._job is not None or not self._client_open:
            return
        now = time.monotonic()
        last, self._garbage_at = self._garbage_at, now
        if self._rng.random() < rate * (now - last):
            junk = bytes(self._rng.randint(0x20, 0xFF) for _ in range(self._rng.randint(1, 8)))
            self._send(junk)

    def _consume_stream(self) -> bool:
        """Parse host bytes in a stream; False when nothing more can be taken now."""
        data = self._inbuf
        audio = bytearray()
        i, n = 0, len(data)
        ended = None
        while i < n:
            b = data[i]
            if b != 0x10:
                j = data.find(b"\x10", i)
                j = n if j < 0 else j
                audio += data[i:j]
                i = j
                continue
            if i + 1 >= n:
                break  # a lone DLE at the end of this read: wait for its partner
            code = data[i + 1]
            i += 2
            if code == 0x10:
                audio.append(0x10)
            elif code in (0x03, 0x21, 0x5E):
                if self._stuck_until_close or self.faults.get("stuck_stream"):
                    self._stuck_until_close = True
                    continue
                if code == 0x03 and self._stream in ("vtx", "vtr"):
                    ended = "drain"
                elif code == 0x21 and self._stream == "vrx":
                    ended = "abort"
                elif code == 0x5E and self._stream == "vtr":
                    ended = "abort"
                if ended:
                    break
            elif code == 0x18:  # DLE CAN: drop everything not played yet
                audio.clear()
                self._play.clear()
                self._play_count = 0
            # 10 75 / 10 64 (volume), 10 70 / 10 72 (pause/resume): accepted, no effect here
        del data[:i]
        if audio and self._stream in ("vtx", "vtr"):
            samples = self._codec_in.decode(bytes(audio))
            if len(samples):
                self._play.append(samples)
                self._play_count += len(samples)
                self._play_fed = True
                self._underrun_reported = False
        if ended == "abort":
            self._end_stream(silent=False)
            return True
        if ended == "drain":
            if self._stream == "vtr":
                self._end_stream(silent=False)
                return True
            self._draining = True
            return False
        return i > 0 and self._want_input()

    def _start_stream(self, kind: str) -> None:
        code = self.s["vsm"][0]
        fmt = next(f for f in self.formats if f.code == code)
        self._stream = kind
        self._draining = False
        self._codec_out = WireCodec(fmt)
        self._codec_in = WireCodec(fmt)
        self._shield = OutboundShield(use_sub=self.dialect == "conexant")
        self._play, self._play_count = [], 0
        self._play_primed = self._play_fed = self._underrun_reported = False
        self._last_host_activity = time.monotonic()
        call = self._call
        if call is not None and call.state == "connected" and not call.voice_started:
            call.voice_started = True
            call.handle.note(f"stream {kind} started: caller steps begin")
        self._tick_due = time.monotonic() + TICK

    def _end_stream(self, silent: bool) -> None:
        """Leave the stream; unless ``silent``, tell the host (DLE ETX for +VRX/+VTR, then OK)."""
        if self._stream is None:
            return
        kind = self._stream
        self._stream = None
        self._draining = False
        self._play, self._play_count = [], 0
        if not silent:
            if kind in ("vrx", "vtr"):
                self._send(b"\x10\x03")
            self._result("OK")
            self._after_command_mode()

    def _after_command_mode(self) -> None:
        if self._inbuf:
            self._process_input()

