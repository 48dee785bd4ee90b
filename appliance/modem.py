"""The V.253 voice-modem driver: one USB voice modem (Conexant CX930xx or USR5637) over pyserial.

Owns the conversation with one modem: opening and identifying it, the initialisation
sequence (every answer checked), waiting for rings and caller ID in idle, answering,
the full-duplex audio stream (``AT+VTR``) with DLE shielding and real-time transmit pacing,
stopping the stream, hanging up, dialling out and sending tones. One thread owns one
``VoiceModem``; nothing here is thread-safe and nothing needs to be.

Only ``ModemError`` (a clear sentence naming the command) and its subclass ``ModemGone``
(the port vanished) ever leave this module. The ground truth for every byte is
/work/shared/reference/voice-modem.md; the stand-in for a real modem is
``appliance/modem_sim.py`` on a pseudo-terminal.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from appliance import pcm
from appliance.callerid import CallerId, is_caller_id_line, parse_caller_id
from appliance.dialing import DialOutcome, DialRules, outcome_for_result
from appliance.dle import (DUPLEX_ABORT, END_OF_STREAM, END_TRANSMIT, RECEIVE_ABORT,
                           DleDecoder, shield)
from appliance.modem_commands import (CONNECT, DIALECT_CONEXANT, DIALECT_USR, ERROR, OK,
                                      DialRefused, ModemError, ModemGone, NO_CARRIER,
                                      VsmOffer,
                                      choose_format, dialect_from_ati0, error_message,
                                      final_result, is_ring, model_from_firmware,
                                      parse_vsm_offers, tone_seconds, valid_country,
                                      validate_tone_spec, vsm_command)
from appliance.modem_port import AtPort

__all__ = ["VoiceModem", "ModemInfo", "IncomingCall", "ModemError", "ModemGone", "DialRefused",
           "DialRules", "DialOutcome"]

# Events that end a call-progress check: busy, dial tone, SIT, reorder, end of stream.
_NOT_ANSWERED_EVENTS = ("b", "d", "J", "K", END_OF_STREAM)


@dataclass
class ModemInfo:
    port: str
    manufacturer: str | None
    model: str | None
    firmware: str | None
    dialect: str  # "conexant" | "usr"
    sample_format: str  # pcm.U8, pcm.ULAW, pcm.ALAW or pcm.S8
    vsm_code: int
    product_code: str | None = None  # the ATI0 answer ("56000", "5601")
    vsm_command: str = ""  # e.g. "AT+VSM=1,8000,0,0"
    offers: list[VsmOffer] = field(default_factory=list)  # what AT+VSM=? listed
    country: str = "B5"


@dataclass
class IncomingCall:
    caller: CallerId
    rings: int
    ring_intervals: list[float] = field(default_factory=list)  # seconds between RINGs
    cid_before_first_ring: bool = False


class VoiceModem:
    """Driver for one voice modem on a serial port (``/dev/ttyACM0``, a pty in tests)."""

    def __init__(self, port: str, *, country: str = "B5", timeout: float = 5.0,
                 log: logging.Logger | None = None, retries: int = 3, backoff: float = 0.25,
                 ring_gap: float = 8.0, stop_timeout: float = 2.0, tx_lead: float = 0.1,
                 modem_silence_s: float = 0.0, dial_timeout: float = 90.0,
                 ringback_quiet_s: float = 5.0, no_ringback_s: int = 10,
                 idle_check_s: float = 30.0):
        self.port = port
        # Idle watchdog: a modem that reset itself quietly has caller ID off, and a wedged
        # port answers nothing; ask AT+VCID? this often while no call is ringing.
        self.idle_check_s = idle_check_s
        self.playback_gain = 128  # AT+VGT, 0-255 (128 = the modem's nominal level)
        self.country = country
        self.timeout = timeout
        self.log = log or logging.getLogger(f"callbox.modem.{port}")
        self.ring_gap = ring_gap  # RINGs stopping this long = the caller gave up
        self.stop_timeout = stop_timeout  # DLE ^ -> DLE ETX + OK, else DTR drop
        self.tx_lead = tx_lead  # transmit never more than this far ahead of real time
        self.modem_silence_s = modem_silence_s  # >0 arms AT+VSD (modem-side silence, DLE s)
        self.dial_timeout = dial_timeout
        # Dialling: "presumed answered" once ringback has stopped this long (AT+VRA, must
        # exceed the 4 s gap between ringback bursts) or never started in no_ringback_s (+VRN).
        self.ringback_quiet_s = ringback_quiet_s
        self.no_ringback_s = no_ringback_s
        self.info: ModemInfo | None = None
        self.off_hook = False
        self.streaming = False
        self.at = AtPort(port, timeout=timeout, retries=retries, backoff=backoff, log=self.log)
        self._decoder = DleDecoder()
        self._stream_ended = False
        self._stream_backlog = b""
        self._fmt = pcm.U8
        self._stream_kind = "vtr"  # vtr (duplex) | vtx (play) | vrx (record)
        self._tx_anchor: float | None = None
        self._tx_sent = 0
        self._vtd = 100  # +VTD (10 ms units): length of a bare DTMF tone in AT+VTS

    # ------------------------------------------------------------------ open / close

    def open(self) -> ModemInfo:
        """Open the port, sync, identify the modem, choose the audio format and initialise."""
        if not valid_country(self.country):
            raise ModemError(f"The country code {self.country!r} is not valid: it must be two "
                             f"hexadecimal characters such as B5 (USA) or B4 (UK).",
                             command="AT+GCI")
        self.info = None
        self._reset_state()
        self.at.open()
        try:
            self.at.sync()
            self._reset_and_verbose()
            info = self._identify()
            self._configure_idle()
        except ModemError:
            self.at.close()  # release the port so a retry (or another program) can open it
            raise
        self.info = info
        self.at.needs_init = False
        self.log.info("Modem on %s ready: %s %s firmware %s, %s dialect, audio %s (%s)",
                      self.port, self.info.manufacturer, self.info.model, self.info.firmware,
                      self.info.dialect, self.info.sample_format, self.info.vsm_command)
        return self.info

    def close(self) -> None:
        """Close the port (on real hardware this drops DTR, which also hangs up)."""
        self.at.close()
        self._reset_state()

    @property
    def resets_seen(self) -> int:
        """Times the modem was found to have reset itself (and was set up again)."""
        return self.at.resets_seen

    @property
    def dtr_drops(self) -> int:
        """Times DTR had to be dropped (stuck stream, modem deaf to commands)."""
        return self.at.dtr_drops

    def _reset_state(self) -> None:
        self._decoder.reset()
        self._stream_backlog = b""
        self.streaming = False
        self._stream_ended = False
        self.off_hook = False

    def _identify(self) -> ModemInfo:
        ati0 = self.at.query("ATI0")
        product = ati0[0] if ati0 else None
        ati3 = self.at.query("ATI3")
        firmware = ati3[0] if ati3 else None
        gmi = self.at.query("AT+GMI")
        manufacturer = gmi[0] if gmi else None
        model = model_from_firmware(firmware) or product
        dialect = dialect_from_ati0(product)
        result, _ = self.at.checked("AT+FCLASS=8", accept=(OK, ERROR))
        if result != OK:
            raise ModemError(
                f"The modem on {self.port} (product code {product or 'unknown'}) refused voice "
                f"mode: it answered {result or 'nothing'} to AT+FCLASS=8. It is not a voice "
                f"modem, or (USR5637) its firmware needs updating to 1.2.23.",
                command="AT+FCLASS=8", answer=result)
        if dialect is None:
            dialect = DIALECT_CONEXANT
        if manufacturer is None and dialect == DIALECT_USR:
            manufacturer = "U.S. Robotics"
        result, lines = self.at.checked("AT+VSM=?", accept=(OK, ERROR))
        offers = parse_vsm_offers(lines, dialect) if result == OK else []
        self.at.checked("AT+FCLASS=0")
        best = choose_format(offers, dialect)
        if best is None:
            listed = "; ".join(lines) if lines else f"nothing ({result or 'no answer'})"
            raise ModemError(
                f"The modem on {self.port} offers no 8-bit audio format Callbox can use. "
                f"AT+VSM=? listed: {listed}.", command="AT+VSM=?", answer=result)
        self.log.info("Modem on %s lists audio formats: %s", self.port, lines)
        self._fmt = best.fmt
        return ModemInfo(port=self.port, manufacturer=manufacturer, model=model,
                         firmware=firmware, dialect=dialect, sample_format=best.fmt,
                         vsm_code=best.code, product_code=product,
                         vsm_command=vsm_command(best, dialect), offers=offers,
                         country=self.country.upper())

    def _reset_and_verbose(self) -> None:
        """ATZ (the stored profile may bring echo back), ATE0, ATV1."""
        self.at.checked("ATZ")
        self.at.echo_off = False
        self.at.verbose = False
        self.at.checked("ATE0")
        self.at.echo_off = True
        self.at.checked("ATV1")
        self.at.verbose = True

    def _configure_idle(self) -> None:
        """The idle settings; caller ID is re-enabled here after every reset."""
        self.at.checked("ATS0=0")
        self.at.checked(f"AT+GCI={self.country.upper()}")
        self.at.checked("AT+VCID=1")
        self.at.checked("ATM0")

    def _reinit(self) -> None:
        """Set the modem up again after it reset itself (ATZ clears caller ID)."""
        self.at.discard_input()
        self.at.sync()
        self._reset_and_verbose()
        self._configure_idle()
        self.streaming = False
        self.off_hook = False
        self.at.needs_init = False

    def _require_info(self) -> ModemInfo:
        if self.info is None:
            raise ModemError(f"The modem on {self.port} has not been opened yet.")
        self.at.serial()  # ModemGone if the port has vanished since
        return self.info

    # ------------------------------------------------------------------ idle: rings

    def wait_for_call(self, rings: int, stop: threading.Event,
                      on_ring: Callable[[int, CallerId | None], None] | None = None
                      ) -> IncomingCall | None:
        """Block in idle until ``rings`` RINGs; None once ``stop`` is set.

        ``on_ring(count, caller)`` is told of every ring before the answer (``caller`` is
        what caller ID has said so far, or None), so the appliance can show the line ringing.

        Caller ID lines are collected whether they come before the first ring (UK style)
        or between the first and second (North America). If the rings stop for longer
        than ``ring_gap`` seconds the caller gave up and counting starts again.
        """
        self._require_info()
        if not isinstance(rings, int) or rings < 1:
            raise ModemError(f"The number of rings before answering must be a whole number of "
                             f"at least 1 (got {rings!r}).")
        if self.at.needs_init:
            self._reinit()
        count = 0
        ring_times: list[float] = []
        cid_lines: list[str] = []
        cid_before = False
        last_activity: float | None = None
        last_check = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            line, seen_at = self._next_idle_line(now + 0.1)
            now = time.monotonic()
            if line is None and count == 0 and now - last_check >= self.idle_check_s:
                last_check = now
                self._idle_check()
            if line is None:
                if last_activity is not None and now - last_activity > self.ring_gap:
                    if count:
                        self.log.info("Line %s: rings stopped after %d; the caller gave up.",
                                      self.port, count)
                        if on_ring is not None:
                            on_ring(0, parse_caller_id(cid_lines) if cid_lines else None)
                    count, ring_times, cid_lines, cid_before = 0, [], [], False
                    last_activity = None
                if self.at.needs_init:
                    self._reinit()
                    count, ring_times, cid_lines, cid_before = 0, [], [], False
                    last_activity = None
                continue
            if is_ring(line) or line == "\x10R":
                if last_activity is not None and seen_at - last_activity > self.ring_gap:
                    count, ring_times, cid_lines, cid_before = 0, [], [], False
                count += 1
                ring_times.append(seen_at)
                last_activity = seen_at
                if count == 1 and cid_lines:
                    cid_before = True
                self.log.debug("Line %s: RING %d", self.port, count)
                if on_ring is not None and count < rings:
                    on_ring(count, parse_caller_id(cid_lines) if cid_lines else None)
                if count >= rings:
                    intervals = [round(b - a, 3) for a, b in zip(ring_times, ring_times[1:])]
                    caller = parse_caller_id(cid_lines)
                    self.log.info("Line %s: call after %d rings from %s", self.port, count,
                                  caller.describe())
                    return IncomingCall(caller=caller, rings=count, ring_intervals=intervals,
                                        cid_before_first_ring=cid_before)
            elif is_caller_id_line(line):
                if last_activity is not None and seen_at - last_activity > self.ring_gap:
                    count, ring_times, cid_lines, cid_before = 0, [], [], False
                cid_lines.append(line)
                last_activity = seen_at
            elif final_result(line) is not None or line.upper().startswith("AT"):
                # Nobody asked anything: an OK/echo out of the blue means the modem restarted.
                self.at.suspect_reset(f"it sent {line!r} while idle")
            else:
                self.log.debug("Line %s idle: ignored %r", self.port, line)
        return None

    def _idle_check(self) -> None:
        """Watchdog while idle: caller ID still on? (ModemError if the modem is silent.)"""
        answer = self.at.query("AT+VCID?")
        value = "".join(answer or []).replace("+VCID:", "").strip()
        if value != "1":
            self.at.suspect_reset(f"caller ID reporting was {value or 'unknown'!s}")

    def _next_idle_line(self, deadline: float) -> tuple[str | None, float]:
        while self.at.unsolicited:
            seen_at, line = self.at.unsolicited.popleft()
            if time.monotonic() - seen_at <= self.ring_gap:
                return line, seen_at
        if self.at.events:
            events, self.at.events = self.at.events, []
            if "R" in events:
                return "\x10R", time.monotonic()
        line = self.at.next_line(deadline)
        if line is None and self.at.events and "R" in self.at.events:
            self.at.events.clear()
            return "\x10R", time.monotonic()
        return line, time.monotonic()

    # ------------------------------------------------------------------ the call

    def _voice_setup(self) -> None:
        info = self._require_info()
        if self.streaming:
            raise ModemError(f"The modem on {self.port} is still streaming audio; stop the "
                             f"stream first.")
        if self.at.needs_init:
            self._reinit()
        self.at.checked("AT+FCLASS=8")
        self.at.checked(info.vsm_command)
        if self.modem_silence_s > 0:
            self.at.checked(f"AT+VSD=128,{min(255, max(1, round(self.modem_silence_s * 10)))}")
        else:
            self.at.checked("AT+VSD=0,0")
        self.at.checked("AT+VIT=0")
        self.at.checked(f"AT+VGT={self.playback_gain}")
        # Record gain: the Conexant manual allows only 0 (automatic) while its firmware lists
        # 0-255; automatic is what both accept, and a refusal here is not worth a lost call.
        if self.at.checked("AT+VGR=0", accept=(OK, ERROR), tries=1)[0] == ERROR:
            self.log.info("Modem on %s refused AT+VGR=0; keeping its record gain.", self.port)

    def answer(self) -> None:
        """Go off-hook in voice mode: FCLASS=8, VSM, VSD, VIT, VLS=1.

        If the modem turns out to have reset itself on the way (its echo came back), it is
        set up again and the answer is tried once more.
        """
        try:
            self._answer_once()
        except ModemGone:
            raise
        except ModemError:
            if not self.at.needs_init:
                raise
            self._reinit()
            self._answer_once()

    def _answer_once(self) -> None:
        self._voice_setup()
        self.at.events.clear()  # leftovers from idle (e.g. DLE R) are not part of this call
        self.at.checked("AT+VLS=1")
        self.off_hook = True

    def start_duplex(self) -> None:
        """AT+VTR -> CONNECT: from now on audio flows both ways."""
        self._start_stream("vtr")

    def start_playback(self) -> None:
        """AT+VTX -> CONNECT: audio to the line only (the modem still reports events)."""
        self._start_stream("vtx")

    def start_record(self) -> None:
        """AT+VRX -> CONNECT: audio from the line only."""
        self._start_stream("vrx")

    def _start_stream(self, kind: str) -> None:
        self._require_info()
        if self.streaming:
            if kind != self._stream_kind:
                raise ModemError(f"The modem on {self.port} is already streaming "
                                 f"({self._stream_kind}); stop that stream first.")
            return
        self.at.checked(f"AT+{kind.upper()}", accept=(CONNECT,), retry_on_timeout=False)
        self._stream_kind = kind
        self._enter_stream()

    def _enter_stream(self) -> None:
        self.streaming = True
        self._stream_ended = False
        self._fmt = self._require_info().sample_format
        self._decoder.reset()
        backlog = bytes(self.at.rx)
        self.at.rx.clear()
        if self.at.skip_lf and backlog[:1] == b"\n":
            backlog = backlog[1:]
        if backlog:
            self.at.skip_lf = False
        self._stream_backlog = backlog
        self._tx_anchor = None
        self._tx_sent = 0

    def _stream_bytes(self, timeout: float) -> bytes:
        data = self._stream_backlog
        self._stream_backlog = b""
        if self.at.skip_lf:
            if not data:
                data = self.at.read_chunk(timeout)
            if data[:1] == b"\n":
                data = data[1:]
            if data:
                self.at.skip_lf = False
        if data:
            return data + self.at.read_chunk(0)
        return self.at.read_chunk(timeout)

    def read_audio(self, timeout: float = 0.05) -> tuple[np.ndarray, list[str]]:
        """Received line audio (int16) and DLE event codes in arrival order.

        Waits up to ``timeout`` for something to arrive. After the modem has ended the
        stream itself (event ``"\\x03"``) it returns nothing more.
        """
        if not self.streaming:
            raise ModemError(f"No audio stream is running on {self.port}; answer the call and "
                             f"start the stream first.")
        events, self.at.events = self.at.events, []
        if self._stream_ended:
            return pcm.silence(0), events
        audio, more = self._decoder.feed(self._stream_bytes(timeout))
        events += more
        if self._decoder.ended:
            self._end_of_stream_seen()
        return pcm.decode(self._fmt, audio), events

    def _end_of_stream_seen(self) -> None:
        self._stream_ended = True
        self.at.rx += self._decoder.remainder
        self._decoder.remainder.clear()

    def write_audio(self, samples: np.ndarray) -> None:
        """Send int16 samples to the line, paced to at most ``tx_lead`` s ahead of real time."""
        if not self.streaming or self._stream_ended:
            raise ModemError(f"No audio stream is running on {self.port}; cannot send audio.")
        if self._stream_kind == "vrx":
            raise ModemError(f"The modem on {self.port} is recording (AT+VRX); it takes no "
                             f"audio to play.")
        try:
            arr = np.asarray(samples)
            if arr.dtype != np.int16:
                if not np.issubdtype(arr.dtype, np.number):
                    raise TypeError(arr.dtype)
                arr = np.clip(arr, -32768, 32767).astype(np.int16)
            arr = arr.reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ModemError(f"Audio for the line must be 16-bit sample numbers ({exc}).") from None
        for start in range(0, len(arr), pcm.FRAME_SAMPLES):
            chunk = arr[start:start + pcm.FRAME_SAMPLES]
            self._pace(len(chunk))
            self.at.write(shield(pcm.encode(self._fmt, chunk)))
            self._tx_sent += len(chunk)

    def _pace(self, n: int) -> None:
        now = time.monotonic()
        if self._tx_anchor is None:
            self._tx_anchor = now
            self._tx_sent = 0
        played = (now - self._tx_anchor) * pcm.LINE_RATE
        if self._tx_sent < played:  # we fell behind: the modem ran dry; start afresh from now
            self._tx_anchor = now - self._tx_sent / pcm.LINE_RATE
        ahead = (self._tx_sent + n) / pcm.LINE_RATE - (now - self._tx_anchor)
        if ahead > self.tx_lead:
            time.sleep(ahead - self.tx_lead)  # pacing audio to the 8000 samples/s clock

    @property
    def stream_ended(self) -> bool:
        """True once the modem has ended the running stream by itself (DLE ETX seen)."""
        return self.streaming and self._stream_ended

    @property
    def transmit_lead(self) -> float:
        """Seconds of audio written beyond what the line has played so far (0 when idle)."""
        if self._tx_anchor is None:
            return 0.0
        return max(0.0, self._tx_sent / pcm.LINE_RATE - (time.monotonic() - self._tx_anchor))

    def stop_duplex(self) -> list[str]:
        """End the running stream cleanly; see ``stop_stream``."""
        return self.stop_stream()

    def stop_stream(self) -> list[str]:
        """End the stream the way its kind wants; returns the events seen meanwhile.

        Duplex (+VTR): DLE ^, then DLE ETX and OK. Record (+VRX): DLE !, then DLE ETX and OK.
        Received audio still in flight is discarded. Playback (+VTX): DLE ETX, then OK once the
        modem has played what it holds. If the modem does not end the stream in time, DTR is
        dropped (on a pty: the port is closed and reopened), which also puts the line on-hook.
        """
        self._require_info()
        if not self.streaming:
            return []
        if self._stream_kind == "vtx":
            return self._stop_playback()
        events, self.at.events = self.at.events, []
        deadline = time.monotonic() + self.stop_timeout
        if not self._stream_ended:
            self.at.write(DUPLEX_ABORT if self._stream_kind == "vtr" else RECEIVE_ABORT)
            data = self._stream_bytes(0)
            while True:
                _, more = self._decoder.feed(data)
                events += more
                if self._decoder.ended:
                    self._end_of_stream_seen()
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                data = self.at.read_chunk(min(remaining, 0.1))
        result = None
        if self._stream_ended:
            result = self.at.await_result(deadline)
        self.streaming = False
        self._tx_anchor = None
        if result not in (OK, NO_CARRIER):
            self.log.warning("The modem on %s did not end the audio stream (%s); dropping DTR.",
                             self.port, "no OK" if self._stream_ended else "no DLE ETX")
            self._recover_by_dtr()
        return [e for e in events if e != END_OF_STREAM]

    def _stop_playback(self) -> list[str]:
        deadline = time.monotonic() + self.transmit_lead + self.stop_timeout
        self.at.write(END_TRANSMIT)
        result = self.at.await_result(deadline)
        events, self.at.events = self.at.events, []
        self.streaming = False
        self._tx_anchor = None
        if result not in (OK, NO_CARRIER):
            self.log.warning("The modem on %s did not finish playing (%s); dropping DTR.",
                             self.port, result or "no answer")
            self._recover_by_dtr()
        return [e for e in events if e != END_OF_STREAM]

    def _recover_by_dtr(self) -> None:
        self.at.drop_dtr()
        self.streaming = False
        self.off_hook = False
        self._reinit()

    def hang_up(self) -> None:
        """On-hook, back to class 0, caller ID on again. A far end already gone is fine."""
        self._require_info()
        if self.streaming:
            self.stop_stream()
        self.at.discard_input()
        hung = False
        for command in ("AT+VLS=0", "ATH"):
            result, _ = self.at.transact(command)
            if result in (OK, NO_CARRIER):
                hung = True
                break
        if not hung:
            self.log.warning("The modem on %s would not hang up by command; dropping DTR.",
                             self.port)
            self._recover_by_dtr()
            return
        self.off_hook = False
        self.at.checked("AT+FCLASS=0")
        self.at.checked("AT+VCID=1")
        self.at.events.clear()
        if self.at.needs_init:
            self._reinit()

    # ------------------------------------------------------------------ outbound and tones

    def dial(self, number: str, rules: DialRules | None = None) -> DialOutcome:
        """Dial out in voice mode; the outcome is stated honestly (OK = presumed answered).

        ``rules`` refuses numbers the owner does not allow (``DialRefused``, nothing dialled).
        On ``presumed_answered`` the line is off-hook in voice command state: start the
        stream and call ``confirm_answered``.
        """
        rules = rules or DialRules()
        digits = rules.check(number)
        self._voice_setup()
        self.at.checked(f"AT+VRA={min(255, max(0, round(self.ringback_quiet_s * 10)))}")
        self.at.checked(f"AT+VRN={min(25, max(0, int(self.no_ringback_s)))}")
        command = f"ATDT{digits}"
        result, _ = self.at.transact(command, self.dial_timeout)
        if result is None:
            self.at.write(b"\r")  # any character aborts dialling
            self.at.drain(0.2)
            self.at.discard_input()
            try:
                self.hang_up()
            except ModemGone:
                raise
            except ModemError:
                pass
            raise ModemError(f"The modem on {self.port} gave no result for dialling {digits} "
                             f"within {self.dial_timeout:.0f} s; the attempt was abandoned.",
                             command=command)
        outcome = outcome_for_result(result, digits)
        if outcome.reason == "error":
            raise ModemError(error_message(command, result, self.port, 1), command=command,
                             answer=result)
        self.off_hook = outcome.off_hook
        if not outcome.off_hook:
            self.at.checked("AT+FCLASS=0")
            self.at.checked("AT+VCID=1")
        return outcome

    def confirm_answered(self, timeout: float, *, level: float = 600.0,
                         active_s: float = 0.3) -> bool:
        """After a presumed answer (stream running): True once ``active_s`` seconds of audio
        above ``level`` RMS arrive within ``timeout``; False on busy/dial/SIT tone or quiet."""
        if not self.streaming:
            raise ModemError(f"Start the audio stream on {self.port} before checking whether "
                             f"the call was answered.")
        end = time.monotonic() + timeout
        loud = 0
        pending = np.zeros(0, dtype=np.int16)
        while time.monotonic() < end:
            audio, events = self.read_audio(min(0.05, max(0.0, end - time.monotonic())))
            if any(e in _NOT_ANSWERED_EVENTS for e in events):
                return False
            pending = np.concatenate([pending, audio])
            while len(pending) >= pcm.FRAME_SAMPLES:
                frame, pending = pending[:pcm.FRAME_SAMPLES], pending[pcm.FRAME_SAMPLES:]
                loud = loud + len(frame) if pcm.rms(frame) >= level else 0
                if loud >= active_s * pcm.LINE_RATE:
                    return True
        return False

    def send_tones(self, spec: str) -> None:
        """AT+VTS=<spec> (e.g. ``"[900,900,120]"`` or ``"1,2,3"``), waiting out the tones."""
        self._require_info()
        if self.streaming:
            raise ModemError(f"Tones cannot be sent on {self.port} while audio is streaming.")
        validate_tone_spec(spec)
        seconds = tone_seconds(spec, self._vtd)
        self.at.checked(f"AT+VTS={spec}", timeout=self.timeout + seconds, retry_on_timeout=False)
