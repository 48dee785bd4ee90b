"""The AT command conversation with one modem over a serial port (pyserial).

Owns the port itself and command-mode framing: opening it with plain-language errors,
reads that never block for long, CR/LF line splitting that tolerates echo, garbage and
numeric answers, one command and its answer (``transact``), commands that must succeed
(``checked``: retries with back-off, then a ``ModemError`` naming the command and the
answer), getting an ``OK`` out of a modem in an unknown state (``sync``) and the DTR drop
(on a pty, which has no DTR, closing and reopening the port stands in).

Lines that belong to nobody (``RING``, caller ID) are kept in ``unsolicited``; ``<DLE>``
events that arrive in command mode (a key pressed before the stream starts) in ``events``.
``appliance/modem.py`` builds the call lifecycle on top of this.
"""

from __future__ import annotations

import errno
import logging
import re
import termios
import time
from collections import deque

import serial

from appliance.callerid import is_caller_id_line
from appliance.dle import DLE, DUPLEX_ABORT, END_TRANSMIT, RECEIVE_ABORT
from appliance.modem_commands import (ERROR, OK, ModemError, ModemGone, error_message,
                                      final_result, is_ring)

BAUD = 115200
READ_SLICE = 0.02  # pyserial read timeout: the granularity of every wait
WRITE_TIMEOUT = 3.0  # a write blocked this long means the port is wedged
SYNC_TIMEOUT = 1.0  # per "AT" while syncing (or the command timeout if shorter)
DTR_LOW_S = 0.25  # how long DTR is held low (port closed) to force a hang-up
# What a failing port raises: pyserial's own errors, OS errors, and termios errors from
# tcflush/ioctl on a descriptor whose device has gone.
PORT_ERRORS = (serial.SerialException, OSError, termios.error)
# Sent to a modem that may still be streaming from a previous run: end transmit, end
# duplex, abort receive, then a bare CR (modec's resync, reference section 7.2).
RESYNC_BYTES = END_TRANSMIT + DUPLEX_ABORT + RECEIVE_ABORT + b"\r"
_LINE_END = re.compile(rb"[\r\n]")


class AtPort:
    """One serial port spoken to in AT commands. Not thread-safe: one owner thread."""

    def __init__(self, port: str, *, timeout: float = 5.0, retries: int = 3,
                 backoff: float = 0.25, log: logging.Logger | None = None):
        self.port = port
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self.log = log or logging.getLogger(f"callbox.modem.{port}")
        self.rx = bytearray()  # command-mode bytes not yet made into lines
        self.skip_lf = False  # a CR ended the last line; a following LF belongs to it
        self.unsolicited: deque[tuple[float, str]] = deque(maxlen=64)  # (monotonic, line)
        self.events: list[str] = []  # DLE events seen in command mode
        self.echo_off = False  # ATE0 has been accepted: an echo now means the modem reset
        self.verbose = False  # ATV1 has been accepted: numeric "0"/"4" no longer trusted
        self.needs_init = False  # the modem seems to have reset itself
        self.resets_seen = 0
        self.dtr_drops = 0
        self._ser: serial.Serial | None = None
        self._was_open = False

    # ------------------------------------------------------------------ the port

    def open(self) -> None:
        self.close_quietly()
        try:
            self._ser = serial.Serial(self.port, BAUD, timeout=READ_SLICE,
                                      write_timeout=WRITE_TIMEOUT, exclusive=True)
        except PORT_ERRORS as exc:
            self._ser = None
            raise self._open_error(exc) from None
        self._was_open = True
        self.clear()

    def close(self) -> None:
        """Close on purpose (later use says "not open", not "gone")."""
        self.close_quietly()
        self._was_open = False
        self.clear()

    def clear(self) -> None:
        self.rx.clear()
        self.skip_lf = False
        self.unsolicited.clear()
        self.events.clear()

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def _open_error(self, exc: Exception) -> ModemError:
        code = getattr(exc, "errno", None)
        text = str(exc)
        if code == errno.ENOENT or "No such file" in text:
            return ModemGone(f"There is no modem at {self.port}. Check that the USB modem is "
                             f"plugged in.")
        if code == errno.EACCES or "Permission denied" in text:
            return ModemError(f"Callbox is not allowed to use the modem at {self.port}. The "
                              f"service user must be in the 'dialout' group.")
        if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text:
            return ModemError(f"The modem at {self.port} is in use by another program (often "
                              f"ModemManager). Stop that program and try again.")
        return ModemGone(f"The modem at {self.port} could not be opened: {text}")

    def gone(self, exc: Exception) -> ModemGone:
        self.close_quietly()
        return ModemGone(f"The modem on {self.port} stopped working (unplugged or failed): "
                         f"{exc}")

    def close_quietly(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # noqa: BLE001 - closing a dead port may fail in any way
                pass

    def serial(self) -> serial.Serial:
        if self._ser is None:
            if self._was_open:
                raise ModemGone(f"The modem on {self.port} is no longer connected.")
            raise ModemError(f"The modem on {self.port} is not open.")
        return self._ser

    def read_chunk(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout`` seconds; ``timeout <= 0`` never blocks."""
        ser = self.serial()
        end = time.monotonic() + max(0.0, timeout)
        try:
            if timeout <= 0:
                waiting = ser.in_waiting
                return ser.read(waiting) if waiting else b""
            while True:
                waiting = ser.in_waiting
                data = ser.read(waiting or 1)
                if data:
                    more = ser.in_waiting
                    return data + ser.read(more) if more else data
                if time.monotonic() >= end:
                    return b""
        except PORT_ERRORS as exc:
            raise self.gone(exc) from None

    def write(self, data: bytes) -> None:
        ser = self.serial()
        try:
            ser.write(data)
        except serial.SerialTimeoutException:
            raise self.gone(TimeoutError(
                f"it stopped accepting data for {WRITE_TIMEOUT:.0f} s")) from None
        except PORT_ERRORS as exc:
            raise self.gone(exc) from None

    def drain(self, seconds: float) -> None:
        """Read and throw away whatever comes for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.read_chunk(end - time.monotonic())

    def discard_input(self) -> None:
        """Drop everything received so far (RING/caller-ID lines already complete are kept)."""
        while True:
            line = self.pop_line()
            if line is None:
                break
            self.keep_if_unsolicited(line)
        self.rx.clear()
        self.skip_lf = False
        try:
            self.serial().reset_input_buffer()
        except PORT_ERRORS as exc:
            raise self.gone(exc) from None

    def keep_if_unsolicited(self, line: str) -> bool:
        if is_ring(line) or is_caller_id_line(line):
            self.unsolicited.append((time.monotonic(), line))
            return True
        return False

    # ------------------------------------------------------------------ lines

    def pop_line(self) -> str | None:
        """The next complete non-empty line from ``rx``; DLE events in it go to ``events``."""
        while True:
            if self.skip_lf and self.rx[:1] == b"\n":
                del self.rx[0]
            self.skip_lf = False
            found = _LINE_END.search(self.rx)
            if found is None:
                return None
            cut = found.start()
            raw = bytes(self.rx[:cut])
            self.skip_lf = self.rx[cut] == 0x0D
            del self.rx[:cut + 1]
            text = self._strip_events(raw)
            if text:
                return text

    def _strip_events(self, raw: bytes) -> str:
        if DLE in raw:
            kept = bytearray()
            i = 0
            while i < len(raw):
                if raw[i] == DLE and i + 1 < len(raw):
                    if raw[i + 1] != DLE:
                        self.events.append(chr(raw[i + 1]))
                    i += 2
                    continue
                if raw[i] != DLE:
                    kept.append(raw[i])
                i += 1
            raw = bytes(kept)
        text = raw.decode("ascii", "replace")
        return "".join(ch for ch in text if ch.isprintable()).strip()

    def next_line(self, deadline: float) -> str | None:
        """The next line, or None once ``time.monotonic()`` passes ``deadline``."""
        while True:
            line = self.pop_line()
            if line is not None:
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.rx += self.read_chunk(min(remaining, 0.1))

    def await_result(self, deadline: float) -> str | None:
        """The next final result code (other lines set aside), or None at the deadline."""
        while True:
            line = self.next_line(deadline)
            if line is None:
                return None
            result = final_result(line)
            if result is not None:
                return result
            self.keep_if_unsolicited(line)

    # ------------------------------------------------------------------ commands

    def transact(self, command: str, timeout: float | None = None) -> tuple[str | None, list[str]]:
        """Send one command; return (result code, or None on timeout; information lines)."""
        timeout = self.timeout if timeout is None else timeout
        self.log.debug(">> %s", command)
        self.write(command.encode("ascii") + b"\r")
        deadline = time.monotonic() + timeout
        info: list[str] = []
        wanted = command.strip().upper()
        while True:
            line = self.next_line(deadline)
            if line is None:
                self.log.debug("<< (no answer to %s; info %r)", command, info)
                return None, info
            upper = line.upper()
            if upper.startswith("AT"):  # the echo of this (or an older) command
                if upper == wanted and self.echo_off and not wanted.startswith("ATE"):
                    self.suspect_reset(f"it echoed {command} although echo was off")
                continue
            result = final_result(line)
            if result is None and not self.verbose and line in ("0", "4"):
                result = OK if line == "0" else ERROR
            if result is not None:
                self.log.debug("<< %s %s", info, result)
                return result, info
            if not self.keep_if_unsolicited(line):
                info.append(line)

    def checked(self, command: str, *, accept: tuple[str, ...] = (OK,), tries: int | None = None,
                timeout: float | None = None,
                retry_on_timeout: bool = True) -> tuple[str, list[str]]:
        """Send ``command`` until an accepted answer comes; else ModemError naming it."""
        tries = self.retries if tries is None else max(1, tries)
        last: str | None = None
        for attempt in range(tries):
            if attempt:
                pause = self.backoff * (2 ** (attempt - 1))
                if last is None:
                    # A slow modem may still answer: listen through the back-off first.
                    late = self.await_result(time.monotonic() + pause)
                    if late in accept:
                        self.log.debug("<< %s (late answer to %s)", late, command)
                        return late, []
                else:
                    time.sleep(pause)  # back-off before a retry
                self.discard_input()
            result, info = self.transact(command, timeout)
            if result in accept:
                return result, info
            last = result
            if result is None and not retry_on_timeout:
                tries = attempt + 1
                break
        raise ModemError(error_message(command, last, self.port, tries), command=command,
                         answer=last)

    def query(self, command: str) -> list[str] | None:
        """An identification query: its information lines, or None if the modem says ERROR."""
        result, info = self.checked(command, accept=(OK, ERROR), tries=2)
        return info if result == OK else None

    def suspect_reset(self, why: str) -> None:
        if not self.needs_init:
            self.log.warning("The modem on %s seems to have reset itself (%s); it will be set "
                             "up again.", self.port, why)
            self.resets_seen += 1
        self.needs_init = True

    # ------------------------------------------------------------------ recovery

    def sync(self) -> None:
        """Get an OK to ``AT``, escalating: plain AT, resync bytes, DTR drop."""
        plan = ("plain", "plain", "escape", "escape", "dtr", "plain")
        self.verbose = False  # until ATV1, a numeric "0" counts as OK
        for step, how in enumerate(plan):
            if how == "escape":
                self.write(RESYNC_BYTES)
                self.drain(0.3)
            elif how == "dtr":
                self.drop_dtr()
            self.discard_input()
            result, _ = self.transact("AT", min(SYNC_TIMEOUT, self.timeout))
            if result == OK:
                return
            self.log.info("Modem on %s: no OK to AT (try %d, %s)", self.port, step + 1, how)
        raise ModemError(error_message("AT", None, self.port, len(plan)), command="AT")

    def drop_dtr(self) -> None:
        """Drop DTR (&D2: hang up, command mode). A pty has no DTR: close and reopen instead."""
        self.dtr_drops += 1
        ser = self.serial()
        try:
            ser.dtr = False
        except PORT_ERRORS as exc:  # a pty has no DTR (ENOTTY): closing the port stands in
            if getattr(exc, "errno", None) not in (errno.ENOTTY, errno.EINVAL):
                raise self.gone(exc) from None
        self.close_quietly()  # closing drops DTR as well (HUPCL)
        time.sleep(DTR_LOW_S)  # hold DTR low long enough for the modem to notice
        self.open()
