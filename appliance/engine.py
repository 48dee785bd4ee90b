"""The call engine: owns the line workers, the router, the headsets, the lights and the call store.

Line workers report what happens on their lines; the engine turns that into routing decisions
(``appliance.acd.router.Router``, pure) and applies them to ``ActiveCall`` objects under one
lock, writes calls and events to the store, drives the status lights, and publishes a state
snapshot for the web side (``appliance.control``). Simulated staff (demo, ``callbox simulate``)
pick up by themselves after their configured delay.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance.acd.router import CancelOffer, Offer, Router, RoutingError
from appliance.calls import ActiveCall
from appliance.config import Config
from appliance.control import ControlServer, StateBoard
from appliance.headset import Headset, HeadsetError, PyAudioHeadset
from appliance.ivr.menu import Menu
from appliance.ivr.prompts import PromptCache, PromptError
from appliance.lights import StatusLights
from appliance.store import Store

log = logging.getLogger(__name__)

HOLD_PROMPT = "Please hold. Someone will be with you shortly."


@contextlib.contextmanager
def _quiet_stderr():
    """Silences C-level stderr (file descriptor 2) for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Engine:
    def __init__(self, cfg: Config, *, store: Store | None = None,
                 lights: StatusLights | None = None, control: bool = True):
        self.cfg = cfg
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        cfg.recordings_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or Store(cfg.db_path)
        self.lights = lights or StatusLights()
        self.prompts = PromptCache(cfg.prompts_dir)
        self.hold_prompt = HOLD_PROMPT
        self.board = StateBoard()
        self.router = Router(wrapup_s=cfg.wrapup_s)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._calls: dict[int, ActiveCall] = {}
        self._lines: dict[str, dict[str, Any]] = {}
        self._headsets: dict[str, Headset] = {}
        self._headset_faults: dict[str, str] = {}
        self._staff_cfg = {s.id: s for s in cfg.staff}
        self._simulators: dict[str, Any] = {}
        self._checked_modem_manager = False
        self._sim_handles: dict[str, Any] = {}
        self._workers = []
        self._threads: list[threading.Thread] = []
        self._problems: list[str] = []
        self.started_at = time.time()
        self._pa = None
        self._control = (ControlServer(cfg.control_path, self.dispatch, self.board)
                         if control else None)
        self._seed_store()
        self._close_interrupted_calls()

    # -- set-up ---------------------------------------------------------------------
    def _seed_store(self) -> None:
        for name, label in self.cfg.queues.items():
            self.store.save_queue(name, label)
        if self.store.menu("main") is None:
            self.store.save_menu("main", self.cfg.menu)
        for s in self.cfg.staff:
            self.store.save_staff(s.id, s.name, s.skills, s.headset)

    def menu(self) -> Menu:
        return Menu.from_dict(self.store.menu("main") or self.cfg.menu)

    def prompt(self, text: str) -> np.ndarray:
        """The prompt's audio; silence (and a problem on the page) if it cannot be made."""
        try:
            return self.prompts.get(text)
        except PromptError as exc:
            self.report_problem(f"A menu prompt cannot be played: {exc}")
            return np.zeros(8000, dtype=np.int16)

    def start(self) -> None:
        from appliance.line import LineWorker

        self.lights.set("power", "on")
        now = time.time()
        for s in self.cfg.staff:
            self.router.add_staff(s.id, s.name, set(s.skills))
        self._open_headsets()
        for s in self.cfg.staff:
            if s.id not in self._headset_faults:
                self.router.set_state(s.id, "available", now)
        menu = self.menu()
        try:
            self.prompts.prewarm([menu.greeting, self.hold_prompt] + menu.extra_prompts())
        except PromptError as exc:
            self.report_problem(f"The menu prompts cannot be made: {exc}")
        ports, port_problem = self._real_ports()
        for line in self.cfg.lines:
            port = ports.get(line.id, line.port)
            if line.simulated:
                port = self._start_simulator(line)
            self._lines[line.id] = {"id": line.id, "label": line.label, "state": "idle",
                                    "port": port, "model": None, "fault": None,
                                    "since": now, "call_id": None}
            worker = LineWorker(self, line, port)
            self._workers.append(worker)
        if port_problem:
            for line in self.cfg.lines:
                if not line.simulated and line.id not in ports:
                    self._lines[line.id].update(state="fault", fault=port_problem)
            self.report_problem(port_problem)
        for worker in self._workers:
            worker.start()
        ticker = threading.Thread(target=self._tick_loop, name="engine-tick", daemon=True)
        ticker.start()
        self._threads.append(ticker)
        if self._control:
            self._control.start()
        self.publish()

    def _real_ports(self) -> tuple[dict[str, str], str | None]:
        """Ports for the real lines ("auto" takes the next free modem), and any problem."""
        from appliance.modem_commands import ModemError
        from appliance.modem_discovery import assign_ports, candidate_ports, modem_manager_warning

        real = {l.id: l.port for l in self.cfg.lines if not l.simulated}
        if not real:
            return {}, None
        if not self._checked_modem_manager:
            self._checked_modem_manager = True
            warning = modem_manager_warning()
            if warning:
                self.report_problem(warning)
        try:
            return assign_ports(real, candidate_ports()), None
        except ModemError as exc:
            return {}, str(exc)

    def _open_headsets(self) -> None:
        if self.cfg.staff:
            import pyaudio

            with _quiet_stderr():  # PortAudio probes every ALSA/JACK backend noisily
                self._pa = pyaudio.PyAudio()
        for s in self.cfg.staff:
            try:
                headset = PyAudioHeadset(s.id, s.headset, pa=self._pa)
                headset.open()
                self._headsets[s.id] = headset
            except HeadsetError as exc:
                self._headset_faults[s.id] = str(exc)
                log.error("staff %s: %s", s.id, exc)

    def _start_simulator(self, line) -> str:
        from appliance.modem_sim import ModemSimulator

        sim = ModemSimulator(name=line.id, dialect=line.dialect, faults=line.sim_faults)
        port = sim.start()
        self._simulators[line.id] = sim
        return port

    def simulator(self, line_id: str):
        return self._simulators.get(line_id)

    def line_port(self, line_id: str) -> str | None:
        """The port a line's worker should open now (simulators and "auto" lines can move)."""
        from appliance.modem_commands import ModemError

        sim = self._simulators.get(line_id)
        if sim is not None:
            return sim.port
        cfg = next(l for l in self.cfg.lines if l.id == line_id)
        if cfg.port not in ("auto", ""):
            return cfg.port
        ports, problem = self._real_ports()
        if line_id not in ports:
            raise ModemError(problem or f"No modem found for {cfg.label}.")
        return ports[line_id]

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for worker in self._workers:
            worker.stop()
        for worker in self._workers:
            worker.join(timeout=10)
        for sim in self._simulators.values():
            sim.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._control:
            self._control.stop()
        for headset in self._headsets.values():
            try:
                headset.close()
            except HeadsetError:
                pass
        self._headsets.clear()
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None
        with self._lock:
            for call in list(self._calls.values()):
                self.store.update_call(call.id, ended_at=time.time(), outcome="engine_stopped")
        self.lights.close()

    # -- reports from line workers -------------------------------------------------
    def line_ready(self, line_id: str, info) -> None:
        with self._lock:
            line = self._lines[line_id]
            maker = getattr(info, "manufacturer", None)
            firmware = getattr(info, "firmware", None)
            model = " ".join(p for p in (maker, firmware) if p) or getattr(info, "model", None)
            line.update(state="idle", fault=None, since=time.time(), model=model,
                        port=getattr(info, "port", line["port"]))
            log.info("%s ready: %s on %s", line["label"], model, line["port"])
        self._changed()

    def line_fault(self, line_id: str, message: str) -> None:
        with self._lock:
            line = self._lines[line_id]
            if line["state"] == "fault" and line["fault"] == message:
                return
            line.update(state="fault", fault=message, since=time.time(), call_id=None)
        log.error("%s fault: %s", line["label"], message)
        self._changed()

    def line_idle(self, line_id: str) -> None:
        with self._lock:
            self._lines[line_id].update(state="idle", since=time.time(), call_id=None)
        self._changed()

    def line_ringing(self, line_id: str, count: int, caller) -> None:
        """A ring before the answer (count 1, 2 ...), or the rings stopped (count 0)."""
        now = time.time()
        with self._lock:
            line = self._lines[line_id]
            if count > 0:
                if line["state"] != "ringing":
                    line.update(state="ringing", since=now)
                line.update(rings=count,
                            ringing_number=getattr(caller, "number", None),
                            ringing_name=getattr(caller, "name", None))
                missed = None
            else:
                missed = (line.get("ringing_number"), line.get("ringing_name"),
                          line.get("since"), line.get("rings"))
                line.update(state="idle", since=now, rings=None, ringing_number=None,
                            ringing_name=None)
        if count == 0 and missed is not None:
            number, name, since, rings = missed
            call_id = self.store.new_call(line_id, caller_number=number, caller_name=name,
                                          arrived_at=since or now)
            self.store.update_call(call_id, ended_at=now, outcome="not_answered",
                                   hangup_signal="rings_stopped")
            self.store.event(call_id, "ended", f"not_answered after {rings} ring(s)", now)
        self._changed()

    def call_arrived(self, line_id: str, caller) -> ActiveCall:
        now = time.time()
        with self._lock:
            line = self._lines[line_id]
            if line["state"] == "ringing" and line.get("since"):
                now = line["since"]  # the call arrived with its first ring
        number = getattr(caller, "number", None)
        name = getattr(caller, "name", None)
        status = getattr(caller, "status", None)
        call_id = self.store.new_call(line_id, caller_number=number, caller_name=name,
                                      caller_status=status, arrived_at=now)
        call = ActiveCall(call_id, line_id, number, name, now)
        with self._lock:
            self._calls[call_id] = call
            line.update(state="ringing", call_id=call_id, since=now, rings=None,
                        ringing_number=None, ringing_name=None)
            handle = self._sim_handles.get(line_id)
            if handle is not None and getattr(handle, "call_id", None) is None:
                handle.call_id = call_id
        self.store.event(call_id, "caller_id", f"{number or status or 'none'} {name or ''}".strip())
        self._changed()
        return call

    def call_answered(self, call: ActiveCall) -> None:
        now = time.time()
        with self._lock:
            call.state = "menu"
            self._lines[call.line_id].update(state="menu", since=now)
        self.store.update_call(call.id, answered_at=now)
        self.store.event(call.id, "answered", "line off-hook", now)
        self._changed()

    def call_event(self, call: ActiveCall, kind: str, detail: str = "") -> None:
        self.store.event(call.id, kind, detail)

    def enqueue(self, call: ActiveCall, queue: str, key: str | None) -> None:
        now = time.time()
        with self._lock:
            call.state, call.queue, call.key, call.queued_at = "waiting", queue, key, now
            self._lines[call.line_id].update(state="waiting", since=now)
            decisions = self.router.enqueue(call.id, queue, now)
        self.store.update_call(call.id, menu_key=key, queue=queue, queued_at=now)
        self.store.event(call.id, "queued", queue, now)
        self._apply(decisions)
        self._changed()

    def call_finished(self, call: ActiveCall, outcome: str | None, signal: str,
                      recording: Path | None) -> None:
        now = time.time()
        with self._lock:
            if outcome is None:
                outcome = {"ringing": "abandoned_in_menu", "menu": "abandoned_in_menu",
                           "talking": "answered"}.get(call.state)
                if call.state == "waiting":
                    outcome = ("abandoned_while_ringing" if call.offered_to
                               else "abandoned_in_queue")
                if signal.startswith("menu_"):
                    outcome = "no_choice"
                if signal in ("fax_tone", "data_tone"):
                    outcome = "machine"
            prior = call.state
            call.state = "ended"
            decisions = []
            if prior in ("waiting", "talking"):
                try:
                    decisions = self.router.call_ended(call.id, now)
                except RoutingError:
                    log.exception("router did not know call %s", call.id)
            self._calls.pop(call.id, None)
        wait_s = talk_s = None
        if call.queued_at is not None:
            wait_s = round((call.staff_answered_at or now) - call.queued_at, 2)
        if call.staff_answered_at is not None:
            talk_s = round(now - call.staff_answered_at, 2)
        rel = self._relative_recording(recording) if recording is not None else None
        self.store.update_call(call.id, ended_at=now, outcome=outcome, hangup_signal=signal,
                               wait_s=wait_s, talk_s=talk_s, recording=rel,
                               staff_id=call.staff_id or call.offered_to)
        self.store.event(call.id, "ended", f"{outcome} ({signal})", now)
        handle = self._sim_handles.get(call.line_id)
        if handle is not None and getattr(handle, "call_id", None) == call.id:
            handle.engine_outcome = outcome
        self._apply(decisions)
        self._changed()

    def recording_started(self, call: ActiveCall, path: Path) -> None:
        """Noted at once, so a power cut mid-call still leaves the recording findable."""
        self.store.update_call(call.id, recording=self._relative_recording(path))

    def _relative_recording(self, path: Path) -> str:
        try:
            return str(Path(path).relative_to(self.cfg.recordings_dir))
        except ValueError:
            return str(path)

    def _close_interrupted_calls(self) -> None:
        """Calls left open by a crash or power cut: repair their recordings and close them."""
        from appliance.recording import RecordingError, recover

        for row in self.store.open_calls():
            ended = row["arrived_at"]
            events = self.store.call_events(row["id"])
            if events:
                ended = max(ended, events[-1]["at"])
            if row["recording"]:
                path = self.cfg.recordings_dir / row["recording"]
                try:
                    seconds = recover(path)
                    ended = max(ended, (row["answered_at"] or ended) + seconds)
                except RecordingError as exc:
                    log.error("call %s: %s", row["id"], exc)
            self.store.update_call(row["id"], ended_at=ended, outcome="engine_stopped",
                                   hangup_signal="appliance_restarted")
            self.store.event(row["id"], "ended", "the appliance stopped during the call; "
                                                 "closed at the next start")
            log.warning("call %s was still open from before a restart; closed it", row["id"])

    def recording_path(self, call: ActiveCall) -> Path:
        day = time.strftime("%Y/%m/%d", time.localtime(call.arrived_at))
        path = self.cfg.recordings_dir / day / f"call-{call.id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def report_problem(self, message: str) -> None:
        log.error(message)
        with self._lock:
            self._problems = (self._problems + [message])[-10:]
        self._changed()

    def headset(self, staff_id: str | None) -> Headset | None:
        if staff_id is None:
            return None
        return self._headsets.get(staff_id)

    def headset_fault(self, staff_id: str, message: str) -> None:
        with self._lock:
            if self._headset_faults.get(staff_id) == message:
                return
            self._headset_faults[staff_id] = message
        self.report_problem(f"Headset of {staff_id}: {message}")

    # -- routing -------------------------------------------------------------------
    def _apply(self, decisions) -> None:
        now = time.time()
        with self._lock:
            for d in decisions:
                call = self._calls.get(d.call_id)
                if isinstance(d, Offer) and call is not None:
                    call.offered_to, call.offered_at = d.staff_id, now
                    self.store.update_call(call.id, staff_id=d.staff_id)
                    self.store.event(call.id, "offered", d.staff_id, now)
                elif isinstance(d, CancelOffer) and call is not None:
                    if call.offered_to == d.staff_id:
                        call.offered_to = call.offered_at = None
                    self.store.event(call.id, "offer_cancelled", d.staff_id, now)
                if call is not None:
                    call.changed.set()
            self._wake.notify_all()

    def answer(self, staff_id: str) -> dict:
        now = time.time()
        with self._lock:
            call = next((c for c in self._calls.values() if c.offered_to == staff_id), None)
            if call is None:
                return {"ok": False, "error": f"{self._staff_name(staff_id)}'s headset is not "
                                              "ringing."}
            decisions = self.router.staff_answered(staff_id, now)
            call.state, call.staff_id, call.staff_answered_at = "talking", staff_id, now
            call.offered_to = None
            self._lines[call.line_id].update(state="talking", since=now)
            handle = self._sim_handles.get(call.line_id)
        self.store.update_call(call.id, staff_id=staff_id, staff_answered_at=now)
        self.store.event(call.id, "staff_answered", staff_id, now)
        if handle is not None:
            handle.staff_connected.set()
        self._apply(decisions)
        self._changed()
        return {"ok": True, "call_id": call.id}

    def hangup(self, staff_id: str) -> dict:
        with self._lock:
            call = next((c for c in self._calls.values()
                         if c.staff_id == staff_id and c.state == "talking"), None)
            if call is None:
                return {"ok": False, "error": f"{self._staff_name(staff_id)} is not on a call."}
            call.staff_hung_up = True
        self.store.event(call.id, "staff_hangup", staff_id)
        return {"ok": True, "call_id": call.id}

    def set_staff_state(self, staff_id: str, state: str) -> dict:
        if state not in ("available", "break", "offline"):
            return {"ok": False, "error": f"Unknown staff state {state!r}."}
        if state == "available" and staff_id in self._headset_faults:
            return {"ok": False, "error": f"{self._staff_name(staff_id)}'s headset is not "
                                          f"working: {self._headset_faults[staff_id]}"}
        with self._lock:
            try:
                decisions = self.router.set_state(staff_id, state, time.time())
            except RoutingError as exc:
                return {"ok": False, "error": str(exc)}
        self._apply(decisions or [])
        self._changed()
        return {"ok": True}

    def _staff_name(self, staff_id: str) -> str:
        s = self._staff_cfg.get(staff_id)
        return s.name if s else staff_id

    def _tick_loop(self) -> None:
        """Offer time-outs, wrap-up ends, simulated staff picking up, and periodic state."""
        last_publish = 0.0
        while not self._stop.is_set():
            now = time.time()
            answers, timeouts = [], []
            with self._lock:
                for call in self._calls.values():
                    if call.offered_to is None or call.offered_at is None:
                        continue
                    staff = self._staff_cfg.get(call.offered_to)
                    if staff and staff.answer_after_s is not None and \
                            now - call.offered_at >= staff.answer_after_s:
                        answers.append(call.offered_to)
                    elif now - call.offered_at >= self.cfg.offer_timeout_s:
                        timeouts.append(call.offered_to)
                decisions = list(self.router.tick(now))
            for staff_id in answers:
                self.answer(staff_id)
            for staff_id in timeouts:
                with self._lock:
                    try:
                        decisions += self.router.offer_timed_out(staff_id, now)
                    except RoutingError:  # answered or hung up in the meantime
                        continue
                    for call in self._calls.values():
                        if call.offered_to == staff_id:
                            call.offered_to = call.offered_at = None
            if decisions or timeouts:
                self._apply(decisions)
                self._changed()
            if now - last_publish >= 1.0:
                self.publish()
                last_publish = now
            with self._wake:
                self._wake.wait(0.2)

    # -- state for the web side ---------------------------------------------------
    def _changed(self) -> None:
        self._update_lights()
        self.publish()

    def _update_lights(self) -> None:
        with self._lock:
            lines = list(self._lines.values())
            waiting = sum(1 for c in self._calls.values() if c.state == "waiting")
            talking = any(c.state == "talking" for c in self._calls.values())
            fault = any(l["state"] == "fault" for l in lines) or bool(self._headset_faults)
        for n, line in enumerate(lines, start=1):
            mode = {"idle": "off", "ringing": "blink", "menu": "on", "waiting": "on",
                    "talking": "on", "fault": "blink"}[line["state"]]
            if self.lights.has(f"line{n}"):
                self.lights.set(f"line{n}", mode)
        self.lights.set("waiting", "blink" if waiting > 1 else ("on" if waiting else "off"))
        self.lights.set("recording", "on" if talking else "off")
        self.lights.set("fault", "on" if fault else "off")

    def snapshot(self) -> dict:
        now = time.time()
        with self._lock:
            routing = self.router.snapshot(now)
            lines = []
            resets = {w.cfg.id: getattr(getattr(w.modem, "at", None), "resets_seen", 0)
                      for w in self._workers}
            for line in self._lines.values():
                entry = {k: line.get(k) for k in ("id", "label", "state", "port", "model",
                                                  "fault", "since", "call_id")}
                entry["modem_resets"] = resets.get(line["id"], 0)
                call = self._calls.get(line.get("call_id"))
                entry.update(caller_number=call.caller_number if call else
                             line.get("ringing_number"),
                             caller_name=call.caller_name if call else line.get("ringing_name"),
                             queue=call.queue if call else None,
                             staff_id=(call.staff_id or call.offered_to) if call else None)
                lines.append(entry)
            staff = []
            for s in routing["staff"]:
                entry = dict(s)
                cfg = self._staff_cfg.get(s["id"])
                entry["headset"] = cfg.headset if cfg else None
                entry["headset_fault"] = self._headset_faults.get(s["id"])
                entry["idle_s"] = round(entry.get("idle_s") or 0)
                staff.append(entry)
            labels = self.cfg.queues
            queues = [{"name": q["name"], "label": labels.get(q["name"], q["name"]),
                       "waiting": q["waiting"],
                       "longest_wait_s": round(q.get("longest_wait_s") or 0)}
                      for q in routing["queues"]]
            known = {q["name"] for q in queues}
            queues += [{"name": n, "label": l, "waiting": 0, "longest_wait_s": 0}
                       for n, l in labels.items() if n not in known]
            problems = list(self._problems)
        return {"engine": {"started_at": self.started_at, "demo": self.cfg.demo,
                           "problems": problems},
                "lines": lines, "staff": staff, "queues": queues,
                "lights": self.lights.snapshot()}

    def publish(self) -> None:
        self.board.publish(self.snapshot())

    # -- control socket -------------------------------------------------------------
    def dispatch(self, request: dict) -> dict:
        cmd = request.get("cmd")
        if cmd == "state":
            return self.snapshot()
        if cmd == "answer":
            return self.answer(str(request.get("staff_id")))
        if cmd == "hangup":
            return self.hangup(str(request.get("staff_id")))
        if cmd == "staff_state":
            return self.set_staff_state(str(request.get("staff_id")), str(request.get("state")))
        if cmd == "test_call":
            return self.test_call(**{k: v for k, v in request.items() if k != "cmd"})
        return {"ok": False, "error": f"Unknown command {cmd!r}."}

    def test_call(self, line: str, number: str | None = "5551234567", name: str | None = None,
                  keys: str = "1", talk_s: float = 5.0, **_: Any) -> dict:
        from appliance.modem_sim import AwaitAnswer, HangUp, Press, SimCall, Talk, Wait

        sim = self._simulators.get(line)
        if sim is None:
            return {"ok": False, "error": f"{line} is not a simulated line; test calls need the "
                                          "demo's simulated lines."}
        with self._lock:
            if self._lines[line]["state"] != "idle":
                return {"ok": False, "error": f"{self._lines[line]['label']} is busy "
                                              f"({self._lines[line]['state']})."}
        steps = [Wait(1.0), Press(keys) if keys else Wait(0.1),
                 AwaitAnswer(timeout=self.cfg.max_wait_s), Talk(float(talk_s)), HangUp("loop")]
        line_cfg = next(l for l in self.cfg.lines if l.id == line)
        call = SimCall(number=number or None, name=name or None, steps=steps,
                       ring_period=line_cfg.ring_period_s)
        handle = sim.place_call(call)
        self._sim_handles[line] = handle
        return {"ok": True, "call": {"line": line}}

    def sim_handle(self, line_id: str):
        return self._sim_handles.get(line_id)
