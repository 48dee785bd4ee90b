"""``ModemSimulator``: a V.253 voice modem (Conexant CX93001 or USR5637 dialect) on the master
side of a pseudo-terminal, served by one background thread.

It owns the pty, the modem's settings and hook/stream state, the AT command interpreter,
real-time audio pacing, the ring/caller-ID schedule of an incoming ``SimCall``, outbound
dialling per ``outbound_behaviour``, and fault injection. A client closing the port is taken
as DTR drop (on-hook, command mode, class 0) and the next open is served as usual.
"""

from __future__ import annotations

import errno
import fcntl
import heapq
import itertools
import logging
import os
import random
import re
import select
import termios
import threading
import time
import tty
from typing import Callable

from appliance.modem_sim.at_commands import (PROFILE_KEYS, RING_GAP_CLEAR, AtCommands,
                                             _DialAborted, factory_settings,
                                             mdmf_hex, normalise_outbound)
from appliance.modem_sim.caller import CallerVoice, LineCall, SimCall, SimCallHandle
from appliance.modem_sim.commands import DIALECTS, RESULT_CODES
from appliance.modem_sim.streaming import PLAYOUT_LIMIT, TICK, LineAudio
from appliance.modem_sim.wire import CONEXANT_FORMATS, USR_FORMATS

log = logging.getLogger("callbox.modem_sim")

FAULT_KEYS = {
    "error_on": "a command (or list) answered ERROR, e.g. 'AT+VCID=1'",
    "delay_on": "{command: seconds} answered late",
    "truncate_on": "a command (or list) whose answer is cut short",
    "reset_on": "a command (or list) on which the modem resets itself (answers nothing)",
    "garbage_idle": "random garbage bursts per second while idle in command mode",
    "garbage_stream": "random garbage bursts per second inside received audio",
    "stray_dle": "meaningless DLE pairs per second inside received audio",
    "split_dle": "true: DLE pairs are split across separate writes",
    "stuck_stream": "true: streams ignore DLE ^ / DLE ! / DLE ETX until the port is closed",
    "seed": "random seed for the faults",
}


class ModemSimulator(LineAudio, AtCommands):
    """A simulated voice modem on a pseudo-terminal; see the module docstring."""

    def __init__(self, *, name: str = "sim", dialect: str = "conexant",
                 faults: dict | None = None, seed: int | None = None) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"Modem dialect {dialect!r} is not simulated; use 'conexant' "
                             f"(CX93001 dongles) or 'usr' (USR5637).")
        faults = dict(faults or {})
        unknown = sorted(set(faults) - set(FAULT_KEYS))
        if unknown:
            raise ValueError(f"Unknown simulator fault {unknown[0]!r}; known faults: "
                             f"{', '.join(sorted(FAULT_KEYS))}.")
        if "delay_on" in faults and not isinstance(faults["delay_on"], dict):
            raise ValueError("The 'delay_on' fault needs a mapping of command to seconds, "
                             "e.g. {'AT+VLS=1': 2.0}.")
        self.name = name
        self.dialect = dialect
        self.faults = faults
        self.formats = CONEXANT_FORMATS if dialect == "conexant" else USR_FORMATS
        self.port: str | None = None
        self.port_changed = threading.Event()  # set when the modem came back on a new path
        self.port_gone = threading.Event()  # set while the port has vanished
        self.on_port_change: Callable[[str], None] | None = None
        self._outbound: dict = {"default": "answer"}
        self.outbound_calls: list[SimCallHandle] = []
        # The host has the port open / closed it (a DTR drop is seen if the port stays closed
        # for more than a few milliseconds, like a real modem's DTR-low debounce).
        self.client_connected = threading.Event()
        self.client_disconnected = threading.Event()
        self.client_disconnected.set()
        self._seed = seed if seed is not None else faults.get("seed", 0)
        self._rng = random.Random(self._seed)
        self._np_seed = itertools.count(int(self._seed) * 1000 + 1)
        self._lock = threading.Lock()
        self._requests: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._master: int | None = None
        self._wake_r, self._wake_w = -1, -1
        self._client_open = False
        self._timers: list = []
        self._timer_seq = itertools.count()
        self._call: LineCall | None = None
        self._last_cid: list[tuple[str, str]] = []
        self._last_ring_at = -1e9
        self._stuck_until_close = False
        self._country = "B5"  # +GCI lives in non-volatile memory: resets keep it
        self._garbage_at = time.monotonic()
        self._processing = False
        self._held_events: list[str] = []
        self._inbuf = bytearray()  # bytes from the host not yet taken
        self._out = bytearray()  # bytes for the host not yet written
        self._reset_state()
        self._saved = {k: factory_settings(dialect)[k] for k in PROFILE_KEYS}

    # ------------------------------------------------------------------ public API

    def start(self) -> str:
        """Create the pty and start serving; returns the slave path (also ``self.port``)."""
        if self._thread is not None:
            raise RuntimeError(f"Simulated modem {self.name} is already running on {self.port}.")
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._open_pty()
        self._thread = threading.Thread(target=self._run, name=f"modem-sim-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop the thread and close the pty (any call in progress ends as "stopped")."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake()
        self._thread.join(timeout=5)
        self._thread = None
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        call = self._call
        if call is not None:
            call.handle._finish("stopped")
            self._call = None

    def place_call(self, call: SimCall) -> SimCallHandle:
        """Start ringing the line with ``call``; returns its handle at once."""
        if not isinstance(call, SimCall):
            raise TypeError("place_call needs a SimCall.")
        if self._thread is None:
            raise RuntimeError(f"Simulated modem {self.name} is not running; call start() first.")
        with self._lock:
            current = self._call
            if current is not None and not current.handle.done.is_set():
                raise RuntimeError(f"Simulated line {self.name} already has a call in progress; "
                                   f"wait for its handle.done before placing another.")
            handle = SimCallHandle(call)
            voice = CallerVoice(call, handle, dialect=self.dialect, seed=next(self._np_seed))
            line_call = LineCall(call, handle, voice)
            self._call = line_call
        self._post(lambda: self._begin_ringing(line_call))
        return handle

    @property
    def outbound_behaviour(self) -> dict:
        """What happens when the host dials: {number or "default": "answer" | "busy" |
        "no_answer" | "no_dial_tone" | "no_carrier" | {"result": ..., "rings": n,
        "ring_period": s, "steps": [...]}}. Far ends that answer appear in
        ``outbound_calls`` as SimCallHandles."""
        return self._outbound

    @outbound_behaviour.setter
    def outbound_behaviour(self, table: dict) -> None:
        if not isinstance(table, dict):
            raise ValueError("outbound_behaviour must be a mapping of number (or 'default') "
                             "to a behaviour.")
        for number, plan in table.items():
            try:
                normalise_outbound(plan)
            except ValueError as exc:
                raise ValueError(f"Outbound behaviour for {number!r}: {exc}") from None
        self._outbound = dict(table)

    def reset_now(self) -> None:
        """Fault: the modem resets itself (power-on state: E1, class 0, caller ID off)."""
        self._post(self._power_on_reset)

    def vanish(self, return_after: float | None = None) -> None:
        """Fault: the port disappears (pty closed, its path gone). With ``return_after`` the
        modem comes back that many seconds later on a NEW pty path: ``port`` is updated,
        ``port_changed`` is set and ``on_port_change(path)`` is called."""
        self._post(lambda: self._vanish(return_after))

    # ------------------------------------------------------------------ thread plumbing

    def _post(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._requests.append(fn)
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        spares = []
        while os.ttyname(slave) == self.port and len(spares) < 4:
            spares.append((master, slave))  # the kernel handed back the old number: a new one
            master, slave = os.openpty()
        for fd in (fd for pair in spares for fd in pair):
            os.close(fd)
        tty.setraw(master)
        path = os.ttyname(slave)
        os.close(slave)  # the client's open/close is then seen on the master
        os.set_blocking(master, False)
        fcntl.fcntl(master, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        self._master = master
        self._client_open = False
        old, self.port = self.port, path
        if old is not None and old != path:
            log.info("simulated modem %s now on %s (was %s)", self.name, path, old)
            self.port_changed.set()
            if self.on_port_change is not None:
                try:
                    self.on_port_change(path)
                except Exception:  # a callback's failure must not kill the modem
                    log.exception("on_port_change callback failed")

    def _close_pty(self) -> None:
        if self._master is not None:
            try:
                os.close(self._master)
            except OSError:
                pass
            self._master = None
        self._client_open = False
        self.client_connected.clear()
        self.client_disconnected.set()

    def _at(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_seq), fn))

    def _run(self) -> None:
        try:
            while not self._stopping:
                with self._lock:
                    requests, self._requests = self._requests, []
                for fn in requests:
                    fn()
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    _, _, fn = heapq.heappop(self._timers)
                    fn()
                self._run_ticks(time.monotonic())
                self._maybe_garbage_idle()
                self._wait(self._next_deadline() - time.monotonic())
        except Exception:
            log.exception("simulated modem %s crashed", self.name)
            raise

    def _next_deadline(self) -> float:
        due = time.monotonic() + 0.5
        if self._timers:
            due = min(due, self._timers[0][0])
        if self._tick_due is not None:
            due = min(due, self._tick_due)
        if self._job_due is not None:
            due = min(due, self._job_due)
        return due

    def _wait(self, timeout: float) -> None:
        timeout = max(0.0, timeout)
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        master = self._master
        if master is None:
            poller.poll(timeout * 1000)
            self._drain_wake()
            return
        if not self._client_open:
            # Nobody has the port open: the master reports hang-up constantly, so look again
            # after a short back-off instead of spinning.
            poller.poll(min(timeout, 0.02) * 1000)
            self._drain_wake()
            probe = select.poll()
            probe.register(master, select.POLLIN)
            hup = any(ev & select.POLLHUP for _, ev in probe.poll(0))
            if not hup:
                self._client_opened()
            return
        mask = select.POLLIN if self._want_input() else 0
        if self._out:
            mask |= select.POLLOUT
        poller.register(master, mask)
        for fd, ev in poller.poll(timeout * 1000):
            if fd == self._wake_r:
                self._drain_wake()
                continue
            if ev & select.POLLOUT:
                self._flush()
            if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                self._read_master()

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except (BlockingIOError, OSError):
            pass

    def _want_input(self) -> bool:
        if self._job is not None and not self._job_abortable:
            return False
        if self._stream in ("vtx", "vtr") and self._play_count >= PLAYOUT_LIMIT:
            return False  # back-pressure: the host's writes block until the buffer drains
        return True

    def _read_master(self) -> None:
        while self._master is not None:
            try:
                data = os.read(self._master, 4096)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    self._client_closed()
                    return
                raise
            if not data:
                self._client_closed()
                return
            self._inbuf += data
            self._last_host_activity = time.monotonic()
            self._process_input()
            if not self._want_input():
                return

    def _send(self, data: bytes) -> None:
        if not self._client_open or self._master is None or not data:
            return
        if self._mute_line:
            return
        self._out += data
        self._flush()

    def _flush(self) -> None:
        while self._out and self._master is not None and self._client_open:
            try:
                n = os.write(self._master, bytes(self._out[:4096]))
            except BlockingIOError:
                return
            except OSError:
                self._out.clear()
                return
            del self._out[:n]

    # ------------------------------------------------------------------ port open / close

    def _client_opened(self) -> None:
        self._client_open = True
        self.client_disconnected.clear()
        self.client_connected.set()
        self._inbuf.clear()
        self._line = bytearray()
        log.debug("simulated modem %s: port opened", self.name)

    def _client_closed(self) -> None:
        """The host closed the port: DTR drop under &D2 (on-hook, command mode, class 0)."""
        self._client_open = False
        self.client_connected.clear()
        self.client_disconnected.set()
        self._out.clear()
        self._inbuf.clear()
        self._line = bytearray()
        try:
            termios.tcflush(self._master, termios.TCIOFLUSH)
        except (termios.error, OSError, TypeError):
            pass
        if self._job is not None:
            self._job.close()
            self._job, self._job_due = None, None
        self._end_stream(silent=True)
        self._stuck_until_close = False
        self._on_hook("the port was closed (DTR drop)")
        self.s["fclass"] = "0"
        log.debug("simulated modem %s: port closed (DTR drop)", self.name)

    def _vanish(self, return_after: float | None) -> None:
        if self._job is not None:
            self._job.close()
            self._job, self._job_due = None, None
        self._end_stream(silent=True)
        self._on_hook("the modem vanished from USB")
        self._close_pty()
        self.port_changed.clear()
        self.port_gone.set()
        log.info("simulated modem %s vanished from %s", self.name, self.port)
        if return_after is not None:
            self._at(return_after, self._reappear)

    def _reappear(self) -> None:
        self._reset_state()
        self._open_pty()
        self.port_gone.clear()

    # ------------------------------------------------------------------ modem state

    def _reset_state(self) -> None:
        """Power-on state: factory settings (the country code survives), on-hook, idle."""
        self.s = factory_settings(self.dialect)
        self.s["gci"] = self._country
        self.off_hook = False
        self._stream: str | None = None
        self._draining = False
        self._inbuf.clear()
        self._line = bytearray()
        self._last_line = ""
        self._out.clear()
        self._job = None
        self._job_due: float | None = None
        self._job_abortable = False
        self._tick_due: float | None = None
        self._mute_line = False
        self._truncating = False
        self._play = []
        self._play_count = 0
        self._play_primed = False
        self._play_fed = False
        self._underrun_reported = False
        self._quiet_frames = 0
        self._silence_reported = False
        self._last_host_activity = time.monotonic()
        self._dial_tone = None
        self._s1 = 0

    def _power_on_reset(self, from_job: bool = False) -> None:
        """The modem restarted by itself: everything back to the factory state."""
        log.info("simulated modem %s resets itself", self.name)
        if self._job is not None and not from_job:
            self._job.close()
        self._end_stream(silent=True)
        self._on_hook("the modem reset itself")
        self._reset_state()
        self._inbuf.clear()

    def _off_hook(self) -> None:
        if self.off_hook:
            return
        self.off_hook = True
        call = self._call
        if call is not None and call.state == "ringing" and not call.outbound:
            call.state = "connected"
            call.handle.answered.set()
            call.handle.note("answered (modem off-hook)")
        self._start_ticks()

    def _on_hook(self, why: str = "") -> None:
        was = self.off_hook
        self.off_hook = False
        self._tick_due = None
        self._dial_tone = None
        call = self._call
        if call is not None and was and call.state == "connected":
            call.state = "over"
            call.handle.note(f"modem on-hook ({why})" if why else "modem on-hook")
            call.handle._finish("engine_hung_up")
            with self._lock:
                if self._call is call:
                    self._call = None

    def _start_ticks(self) -> None:
        if self._tick_due is None:
            self._tick_due = time.monotonic() + TICK

    # ------------------------------------------------------------------ the incoming call

    def _begin_ringing(self, line_call: LineCall) -> None:
        call, handle = line_call.call, line_call.handle
        if self.off_hook:
            handle.note("the line was busy (modem off-hook); caller gave up")
            line_call.state = "over"
            handle._finish("gave_up")
            return
        handle.note(f"ringing every {call.ring_period:g} s, up to {call.max_rings} rings")
        period = call.ring_period
        cid_delay = call.cid_delay if call.cid_delay is not None else 0.4 * period
        first = cid_delay if call.cid_before_first_ring else 0.0
        if call.cid_before_first_ring:
            self._at(0.0, lambda: self._send_cid(line_call))
        else:
            self._at(first + cid_delay, lambda: self._send_cid(line_call))
        for k in range(call.max_rings):
            self._at(first + k * period, lambda k=k: self._ring(line_call, k + 1))
        self._at(first + call.max_rings * period, lambda: self._give_up(line_call))

    def _ring(self, line_call: LineCall, number: int) -> None:
        if line_call.state != "ringing" or self._call is not line_call:
            return
        line_call.handle.rings = number
        line_call.handle.note(f"RING {number}")
        now = time.monotonic()
        self._s1 = self._s1 + 1 if now - self._last_ring_at < RING_GAP_CLEAR else 1
        self._last_ring_at = now
        if self.off_hook:
            return
        if self.s["fclass"] == "8":
            self._send(b"\x10R")
            return
        self._result("RING")
        auto = self.s["S"].get(0, 0)
        if auto and number >= auto and self._job is None:
            self._start_job(self._auto_answer())

    def _auto_answer(self):
        """S0 > 0 in class 0: the modem answers by itself, as a data modem."""
        outcome = yield from self._data_answer()
        self._result(outcome)

    def _send_cid(self, line_call: LineCall) -> None:
        if line_call.state != "ringing" or self._call is not line_call or line_call.cid_sent:
            return
        line_call.cid_sent = True
        fields = line_call.call.cid_fields()
        if fields:
            self._last_cid = fields
        mode = self.s["vcid"][0]
        if not fields or mode == 0 or self.off_hook:
            line_call.handle.note("no caller ID shown" if not fields else
                                  f"caller ID not shown (+VCID={mode})")
            return
        if mode == 2:
            text = "\r\n" + mdmf_hex(fields) + "\r\n"
        else:
            sep = " = " if self.dialect == "conexant" else "="
            text = "\r\n" + "".join(f"{tag}{sep}{value}\r\n" for tag, value in fields)
        line_call.handle.note("caller ID sent: " + ", ".join(f"{t}={v}" for t, v in fields))
        self._send(text.encode("ascii", "replace"))

    def _give_up(self, line_call: LineCall) -> None:
        if line_call.state != "ringing" or self._call is not line_call:
            return
        line_call.state = "over"
        line_call.handle.note("caller gave up (not answered)")
        line_call.handle._finish("gave_up")
        with self._lock:
            if self._call is line_call:
                self._call = None

    # ------------------------------------------------------------------ host input

    def _process_input(self) -> None:
        if self._processing:
            return  # already inside the loop below (a command finished synchronously)
        self._processing = True
        try:
            self._process_input_loop()
        finally:
            self._processing = False

    def _process_input_loop(self) -> None:
        while self._inbuf:
            if self._job is not None:
                if self._job_abortable:
                    self._inbuf.clear()
                    self._advance_job(abort=True)
                return
            if self._stream is not None:
                if self._draining and self._stream == "vtx":
                    return  # the rest waits until playout ended and OK was sent
                if not self._consume_stream():
                    return
                continue
            self._consume_command_bytes()
            if self._job is None and self._stream is None and not self._inbuf:
                return

    def _consume_command_bytes(self) -> None:
        while self._inbuf and self._job is None and self._stream is None:
            b = self._inbuf.pop(0)
            if self.s["E"]:
                self._send(bytes([b]))
            cr, bs = self.s["S"].get(3, 13), self.s["S"].get(5, 8)
            if b == cr:
                line = self._line.decode("latin-1")
                self._line = bytearray()
                self._command_line(line)
            elif b == bs:
                del self._line[-1:]
            elif b == 0x0A or b == 0x00:
                continue
            elif b == ord("/") and self._line.upper() == b"A":
                self._line = bytearray()
                if self._last_line:
                    self._command_line(self._last_line)
            else:
                if len(self._line) < 1024:
                    self._line.append(b)

    def _command_line(self, line: str) -> None:
        upper = line.upper()
        at = upper.find("AT")
        if at < 0:
            return  # not a command: a real modem ignores it
        body = line[at + 2:]
        self._last_line = line[at:]
        self._start_job(self._execute(body))

    # ------------------------------------------------------------------ answers

    def _result(self, word: str) -> None:
        if self.s["Q"]:
            return
        if self.s["V"]:
            self._emit(f"\r\n{word}\r\n")
        else:
            self._emit(f"{RESULT_CODES.get(word, 4)}\r")

    def _info(self, *lines: str) -> None:
        """Information text: each line ends CR LF, the block starts with CR LF (verbose)."""
        body = "".join(f"{line}\r\n" for line in lines)
        self._emit("\r\n" + body if self.s["V"] else body)

    def _emit(self, text: str) -> None:
        data = text.encode("latin-1", "replace")
        if self._truncating:
            self._send(data[:max(1, len(data) // 2)])
            self._mute_line = True  # nothing more of this answer
            return
        self._send(data)

    # ------------------------------------------------------------------ jobs (command lines)

    def _start_job(self, job) -> None:
        self._job = job
        self._advance_job()

    def _advance_job(self, abort: bool = False) -> None:
        job = self._job
        self._job_due = None
        try:
            delay = job.throw(_DialAborted()) if abort else next(job)
        except StopIteration:
            self._job = None
            self._job_abortable = False
            self._truncating = False
            self._mute_line = False
            if self._held_events:
                held, self._held_events = self._held_events, []
                if self.off_hook:
                    self._send(b"".join(b"\x10" + c.encode("latin-1") for c in held))
            if self._inbuf:
                self._process_input()
            return
        self._job_due = time.monotonic() + max(0.0, float(delay))
        self._at(max(0.0, float(delay)), lambda: self._resume(job))

    def _resume(self, job) -> None:
        if self._job is job and self._job_due is not None and time.monotonic() >= self._job_due - 1e-3:
            self._advance_job()
