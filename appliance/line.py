"""One phone line's worker thread: owns its modem and does all of a call's audio I/O.

The worker waits for a call, answers, plays the menu and reads keys, waits in the queue (ringing
the offered staff member's headset), bridges the caller and the headset both ways while
recording, and notices the hang-up. Every routing decision is the engine's (``Engine``); the
worker only reports what happened and follows the ``ActiveCall`` fields the engine sets.
Modem faults put the line in "fault" and the worker retries until the modem answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from appliance import pcm
from appliance.calls import ActiveCall
from appliance.config import LineConfig
from appliance.dle import DtmfCollector
from appliance.hangup_detect import HangupDetector, is_machine, reason_for_event
from appliance.headset import HeadsetError, RingTone
from appliance.ivr.menu import Hangup, MenuSession, Play, Route
from appliance.modem import ModemError, ModemGone, VoiceModem
from appliance.recording import CallRecorder, RecordingError

if TYPE_CHECKING:
    from appliance.engine import Engine

log = logging.getLogger(__name__)

RETRY_S = 1.0  # a line in fault tries its modem again this often
PREFILL_FRAMES = 3  # silence queued at the start of a stream so the modem never underruns
VOICE_ONLY = "This number takes voice calls only. Goodbye."


class CallEnded(Exception):
    """Raised inside the call loop when the caller or the staff member has hung up."""

    def __init__(self, signal: str):
        super().__init__(signal)
        self.signal = signal


class LineWorker(threading.Thread):
    def __init__(self, engine: "Engine", cfg: LineConfig, port: str):
        super().__init__(name=f"line-{cfg.id}", daemon=True)
        self.engine = engine
        self.cfg = cfg
        self.port = port
        self.modem: VoiceModem | None = None
        self._stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._serve()
            except (ModemError, OSError) as exc:
                self.engine.line_fault(self.cfg.id, str(exc))
            except Exception as exc:  # a bug must not silence the line for good: retry
                log.exception("line %s: unexpected error", self.cfg.id)
                self.engine.line_fault(self.cfg.id, f"Unexpected error ({exc!r}); the line "
                                                    "restarts by itself.")
            finally:
                self._close_modem()
            self._stopping.wait(RETRY_S)

    def _close_modem(self) -> None:
        if self.modem is not None:
            try:
                self.modem.close()
            except Exception:  # closing a vanished port must not stop the retry loop
                log.debug("line %s: close failed", self.cfg.id, exc_info=True)
            self.modem = None

    def _serve(self) -> None:
        port = self.engine.line_port(self.cfg.id) or self.port
        # A caller who gives up shows only as the rings stopping (8 s on a real line).
        gap = 8.0 if not self.cfg.simulated else max(1.0, 2.5 * self.cfg.ring_period_s)
        self.modem = VoiceModem(port, country=self.cfg.country, log=log, ring_gap=gap,
                                idle_check_s=30.0 if not self.cfg.simulated else 1.0)
        info = self.modem.open()
        self.engine.line_ready(self.cfg.id, info)
        while not self._stopping.is_set():
            incoming = self.modem.wait_for_call(self.cfg.rings_to_answer, self._stopping,
                                                on_ring=self._ringing)
            if incoming is None:
                return
            self._take_call(incoming)

    def _ringing(self, count: int, caller) -> None:
        self.engine.line_ringing(self.cfg.id, count, caller)

    # -- one call -------------------------------------------------------------
    def _take_call(self, incoming) -> None:
        modem = self.modem
        call = self.engine.call_arrived(self.cfg.id, incoming.caller)
        recorder: CallRecorder | None = None
        loop: _CallLoop | None = None
        outcome, signal = None, None
        try:
            modem.answer()
            modem.start_duplex()
            recorder = self._start_recording(call)
            self.engine.call_answered(call)
            loop = _CallLoop(self, call, recorder)
            signal = loop.run()
        except CallEnded as ended:
            signal = ended.signal
        except (ModemGone, ModemError) as exc:
            outcome, signal = "line_fault", "modem_fault"
            self.engine.line_fault(self.cfg.id, str(exc))
            self._finish(call, recorder, outcome, signal, loop)
            raise
        except Exception:
            self._finish(call, recorder, "line_fault", "internal_error", loop)
            raise
        self._finish(call, recorder, outcome, signal, loop)
        try:
            modem.stop_duplex()
        finally:
            modem.hang_up()
        self.engine.line_idle(self.cfg.id)

    def _start_recording(self, call: ActiveCall) -> CallRecorder | None:
        path = self.engine.recording_path(call)
        try:
            recorder = CallRecorder(path)
            self.engine.recording_started(call, path)
            return recorder
        except (RecordingError, OSError) as exc:
            self.engine.report_problem(f"Call {call.id} is not being recorded: {exc}")
            return None

    def _finish(self, call: ActiveCall, recorder: CallRecorder | None, outcome: str | None,
                signal: str | None, loop: "_CallLoop | None" = None) -> None:
        if loop is not None and loop.underruns:
            self.engine.call_event(call, "underruns",
                                   f"the modem ran short of audio {loop.underruns} time(s)")
        recording = None
        if recorder is not None:
            try:
                recorder.close()
                recording = recorder.path
            except (RecordingError, OSError) as exc:
                self.engine.report_problem(f"Recording of call {call.id} is incomplete: {exc}")
                recording = recorder.path
        self.engine.call_finished(call, outcome, signal or "unknown", recording)


class _CallLoop:
    """The 20 ms frame loop of one answered call, clocked by the audio the modem sends."""

    def __init__(self, worker: LineWorker, call: ActiveCall, recorder: CallRecorder | None):
        self.worker = worker
        self.engine = worker.engine
        self.modem = worker.modem
        self.call = call
        self.recorder = recorder
        self.dtmf = DtmfCollector()
        self.pending = np.empty(0, dtype=np.int16)
        self.outgoing: deque[np.ndarray] = deque()  # prompt frames queued for the caller
        self.menu = MenuSession(self.engine.menu())
        self.menu_deadline: float | None = None
        self.silence = HangupDetector(silence_s=self.engine.cfg.silence_hangup_s)
        self.machine: str | None = None  # a fax or modem is calling: say so, then hang up
        self.underruns = 0
        self.ring = RingTone()
        self.ringing_staff: str | None = None
        self.hold_prompt_at: float | None = None

    def run(self) -> str:
        for _ in range(PREFILL_FRAMES):
            self.modem.write_audio(pcm.silence())
        self._act(self.menu.start())
        while True:
            samples, events = self.modem.read_audio(timeout=0.1)
            self._events(events)
            if self.call.staff_hung_up:
                return "staff_hangup"
            if len(samples):
                self.pending = np.concatenate([self.pending, samples])
            while len(self.pending) >= pcm.FRAME_SAMPLES:
                frame, self.pending = (self.pending[:pcm.FRAME_SAMPLES],
                                       self.pending[pcm.FRAME_SAMPLES:])
                self._frame(frame)

    # -- events -----------------------------------------------------------------
    def _events(self, events: list[str]) -> None:
        for code in events:
            if code == "u":
                self.underruns += 1  # the modem ran out of audio to play: we fell behind
            reason = reason_for_event(code)
            if reason is None:
                continue
            if is_machine(reason):
                self._machine_calling(reason)
                continue
            raise CallEnded(reason)
        if self.machine is not None:
            return
        for digit in self.dtmf.feed(events):
            self.engine.call_event(self.call, "dtmf", digit)
            if self.call.state == "menu":
                self.outgoing.clear()  # barge-in: a key stops the prompt
                self._act(self.menu.digit(digit))

    def _act(self, action) -> None:
        if isinstance(action, Play):
            self.outgoing.clear()
            self._queue_prompt(self.engine.prompt(action.text))
            self.menu_deadline = None
        elif isinstance(action, Route):
            self.outgoing.clear()
            self.engine.enqueue(self.call, action.queue, self.menu.chosen_key)
            self._queue_prompt(self.engine.prompt(self.engine.hold_prompt))
            self.hold_prompt_at = time.monotonic()
        elif isinstance(action, Hangup):
            raise CallEnded(f"menu_{action.reason}")

    def _machine_calling(self, reason: str) -> None:
        if self.machine is not None:
            return
        self.machine = reason
        self.engine.call_event(self.call, "machine", reason)
        self.outgoing.clear()
        self._queue_prompt(self.engine.prompt(VOICE_ONLY))

    def _queue_prompt(self, samples: np.ndarray) -> None:
        for start in range(0, len(samples), pcm.FRAME_SAMPLES):
            frame = samples[start:start + pcm.FRAME_SAMPLES]
            if len(frame) < pcm.FRAME_SAMPLES:
                frame = np.concatenate([frame, pcm.silence(pcm.FRAME_SAMPLES - len(frame))])
            self.outgoing.append(frame)

    # -- frames -------------------------------------------------------------------
    def _frame(self, caller: np.ndarray) -> None:
        call = self.call
        self._watch_silence(caller)
        if self.machine is not None and not self.outgoing:
            raise CallEnded(self.machine)
        if call.state == "talking" and self.machine is None:
            out = self._bridge(caller)
        else:
            out = self.outgoing.popleft() if self.outgoing else pcm.silence()
            if call.state == "menu" and not self.outgoing:
                self._menu_timer()
            elif call.state == "waiting":
                self._ring_headset()
                self._remind_hold()
        self.modem.write_audio(out)
        if self.recorder is not None:
            try:
                self.recorder.write(caller, out)
            except RecordingError as exc:
                self.engine.report_problem(f"Recording of call {call.id} stopped: {exc}")
                self.recorder = None

    def _menu_timer(self) -> None:
        now = time.monotonic()
        if self.menu_deadline is None:
            self.menu_deadline = now + self.menu.timeout_s
        elif now >= self.menu_deadline:
            self.menu_deadline = None
            self._act(self.menu.timeout())

    def _remind_hold(self) -> None:
        """A caller waiting in silence for long wonders if they were cut off: remind them."""
        now = time.monotonic()
        if not self.outgoing and self.hold_prompt_at is not None and \
                now - self.hold_prompt_at >= self.engine.cfg.hold_reminder_s:
            self.hold_prompt_at = now
            self._queue_prompt(self.engine.prompt(self.engine.hold_prompt))

    def _ring_headset(self) -> None:
        staff = self.call.offered_to
        if staff != self.ringing_staff:
            self.ringing_staff = staff
            self.ring = RingTone()
        if staff is None:
            return
        headset = self.engine.headset(staff)
        if headset is None:
            return
        try:
            headset.play(self.ring.next_frame())
        except HeadsetError as exc:
            self.engine.headset_fault(staff, str(exc))

    def _bridge(self, caller: np.ndarray) -> np.ndarray:
        headset = self.engine.headset(self.call.staff_id)
        if headset is None:
            return pcm.silence()
        try:
            headset.play(caller)
            return headset.read(pcm.FRAME_SAMPLES)
        except HeadsetError as exc:
            self.engine.headset_fault(self.call.staff_id, str(exc))
            return pcm.silence()

    def _watch_silence(self, caller: np.ndarray) -> None:
        """Software silence detection (many modems never report silence themselves)."""
        if self.call.state not in ("waiting", "talking"):
            self.silence.reset()
            return
        reason = self.silence.feed(caller)
        if reason is not None:
            raise CallEnded(reason)
