"""VoiceModem transcript tests: real pyserial on a pty, the far end a tiny scripted responder.

Each script states exactly which bytes the driver must send and what a real modem answers
(both dialects, echo on and off), following /work/shared/reference/voice-modem.md.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
import tty

import numpy as np
import pytest

from appliance import pcm
from appliance.modem import ModemError, ModemGone, VoiceModem

OK = b"\r\nOK\r\n"
ERR = b"\r\nERROR\r\n"

CONEXANT_VSM = (b'\r\n0,"SIGNED PCM",8,0,8000,0,0\r\n1,"UNSIGNED PCM",8,0,8000,0,0\r\n'
                b'129,"IMA ADPCM",4,0,8000,0,0\r\n130,"UNSIGNED PCM",8,0,8000,0,0\r\n'
                b'131,"Mu-Law",8,0,8000,0,0\r\n132,"A-Law",8,0,8000,0,0\r\n'
                b'133,"14 bit PCM",14,0,8000,0,0\r\n' + OK)
USR_VSM = b"\r\n128,129,130,131,132\r\n" + OK


# ---------------------------------------------------------------- the scripted far end

class Cmd:
    """Expect exactly ``command`` + CR from the driver, then send ``reply`` (echo first if on)."""

    def __init__(self, command: str, reply: bytes = OK, *, echo: bool = False):
        self.expect = command.encode() + b"\r"
        self.reply = (self.expect if echo else b"") + reply

    def run(self, far):
        far.expect(self.expect)
        far.write(self.reply)


class Expect:
    """Expect exact bytes (e.g. DLE codes), then reply."""

    def __init__(self, data: bytes, reply: bytes = b""):
        self.data, self.reply = data, reply

    def run(self, far):
        far.expect(self.data)
        far.write(self.reply)


class Send:
    """Send bytes unprompted after ``delay`` seconds (rings, caller ID, audio)."""

    def __init__(self, data: bytes, delay: float = 0.0):
        self.data, self.delay = data, delay

    def run(self, far):
        if self.delay:
            far.stop.wait(self.delay)  # pacing the far end, like a real ring cadence
        far.write(self.data)


class Until:
    """Swallow bytes until ``marker``; the bytes before it are kept in ``captured``."""

    def __init__(self, marker: bytes, reply: bytes = b""):
        self.marker, self.reply, self.captured = marker, reply, b""

    def run(self, far):
        self.captured = far.until(self.marker)
        far.write(self.reply)


class StreamUntilHangup:
    """Keep sending audio at 8000 bytes/s, ignoring everything, until the port is closed."""

    def __init__(self, frame: bytes = b"\x80" * 160):
        self.frame = frame

    def run(self, far):
        while not far.stop.is_set():
            far.write(self.frame)
            far._read(0.02)
            if far.closed_seen.is_set():
                return  # what the driver sends after reopening stays in the buffer
            far.buf.clear()
        raise AssertionError("stopped before the driver closed the port")


class Gone:
    """The USB modem vanishes (master side closed) once the test sets ``trigger``."""

    def __init__(self):
        self.trigger = threading.Event()

    def run(self, far):
        while not self.trigger.is_set():
            if far.stop.is_set():
                return
            far._read(0.02)
        far.vanish()


class FarEnd:
    """Master side of a pty running a script in a thread; records every mismatch."""

    def __init__(self, script, *, step_timeout: float = 5.0):
        self.master, self._slave = os.openpty()
        tty.setraw(self.master)
        self.port = os.ttyname(self._slave)
        self.script = list(script)
        self.step_timeout = step_timeout
        self.buf = bytearray()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.finished = threading.Event()
        self.closed_seen = threading.Event()
        self.hangups = 0
        self._closed = False
        self._gone = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # plumbing
    def _read(self, timeout: float) -> None:
        if self._gone:
            raise AssertionError("modem gone")
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.master, 4096)
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            if not self._closed:
                self._closed = True
                self.buf.clear()
                self.hangups += 1
                self.closed_seen.set()
            self.stop.wait(0.005)  # back-off while the driver has the port closed
            return
        if self._slave is not None:
            os.close(self._slave)  # the driver has it open now; let its close be seen
            self._slave = None
        self._closed = False
        self.buf += data

    def write(self, data: bytes) -> None:
        if data and not self._closed:
            os.write(self.master, data)

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.stop.is_set():
            self._read(max(0.0, end - time.monotonic()))
        self.buf.clear()

    def expect(self, data: bytes) -> None:
        end = time.monotonic() + self.step_timeout
        while len(self.buf) < len(data) and time.monotonic() < end and not self.stop.is_set():
            self._read(0.05)
        got = bytes(self.buf[:len(data)])
        if got != data:
            raise AssertionError(f"expected {data!r}, got {bytes(self.buf)!r}")
        del self.buf[:len(data)]

    def until(self, marker: bytes) -> bytes:
        end = time.monotonic() + self.step_timeout
        while marker not in self.buf:
            if time.monotonic() > end or self.stop.is_set():
                raise AssertionError(f"never got {marker!r} (had {len(self.buf)} bytes)")
            self._read(0.05)
        i = self.buf.index(marker)
        before = bytes(self.buf[:i])
        del self.buf[:i + len(marker)]
        return before

    def vanish(self) -> None:
        self._gone = True
        os.close(self.master)

    def _run(self) -> None:
        try:
            for step in self.script:
                if self.stop.is_set():
                    raise AssertionError(f"stopped before step {step!r}")
                step.run(self)
            self.finished.set()
            while not self.stop.is_set() and not self._gone:  # collect anything extra
                self._read(0.05)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            if not self.stop.is_set() or not self.finished.is_set():
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.stop.set()
        self._thread.join(5)
        for fd in (self.master if not self._gone else None, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def check(self, *, extra: bytes | None = b"") -> None:
        """The script ran to its end without a mismatch (and, by default, nothing extra came)."""
        assert self.finished.wait(5), f"script did not finish: {self.errors}"
        assert self.errors == []
        if extra is not None:
            assert bytes(self.buf) == extra


@pytest.fixture
def far_end():
    made: list[FarEnd] = []
    modems: list[VoiceModem] = []

    def make(script, **modem_kw):
        far = FarEnd(script)
        made.append(far)
        kw = dict(timeout=0.5, backoff=0.01, stop_timeout=0.5)
        kw.update(modem_kw)
        modem = VoiceModem(far.port, **kw)
        modems.append(modem)
        return far, modem

    yield make
    for modem in modems:
        modem.close()
    for far in made:
        far.close()


def open_script(*, dialect: str = "conexant", echo: bool = False, country: str = "B5"):
    """What the driver sends on open() and a modem of that kind answers."""
    e = echo
    if dialect == "conexant":
        ident = [Cmd("ATI0", b"\r\n56000\r\n" + OK),
                 Cmd("ATI3", b"\r\nCX93001-EIS_V0.2013-V92\r\n" + OK),
                 Cmd("AT+GMI", b"\r\nCONEXANT\r\n" + OK),
                 Cmd("AT+FCLASS=8"), Cmd("AT+VSM=?", CONEXANT_VSM), Cmd("AT+FCLASS=0")]
    else:
        ident = [Cmd("ATI0", b"\r\n5601\r\n" + OK),
                 Cmd("ATI3", b"\r\nU.S. Robotics 56K FAX USB V1.2.23\r\n" + OK),
                 Cmd("AT+GMI", ERR),
                 Cmd("AT+FCLASS=8"), Cmd("AT+VSM=?", USR_VSM), Cmd("AT+FCLASS=0")]
    return ([Cmd("AT", echo=e), Cmd("ATZ", echo=e), Cmd("ATE0", echo=e), Cmd("ATV1")]
            + ident + idle_script(country))


def idle_script(country="B5"):
    return [Cmd("ATS0=0"), Cmd(f"AT+GCI={country}"), Cmd("AT+VCID=1"), Cmd("ATM0")]


ANSWER = [Cmd("AT+FCLASS=8"), Cmd("AT+VSM=1,8000,0,0"), Cmd("AT+VSD=0,0"), Cmd("AT+VIT=0"),
          Cmd("AT+VGT=128"), Cmd("AT+VGR=0"), Cmd("AT+VLS=1")]
HANGUP = [Cmd("AT+VLS=0"), Cmd("AT+FCLASS=0"), Cmd("AT+VCID=1")]
RING = b"\r\nRING\r\n"
CID_US = b"\r\nDATE = 0731\r\nTIME = 1030\r\nNMBR = 5551234567\r\nNAME = DOE JOHN\r\n"


# ---------------------------------------------------------------- open / identify / init

@pytest.mark.parametrize("echo", [False, True])
def test_open_conexant_identifies_and_picks_unsigned_8_bit(far_end, echo):
    far, modem = far_end(open_script(echo=echo))
    info = modem.open()
    far.check()
    assert (info.dialect, info.sample_format, info.vsm_code) == ("conexant", pcm.U8, 1)
    assert info.vsm_command == "AT+VSM=1,8000,0,0"
    assert (info.product_code, info.manufacturer) == ("56000", "CONEXANT")
    assert info.firmware == "CX93001-EIS_V0.2013-V92" and info.model == "CX93001-EIS"
    assert info.port == far.port and len(info.offers) == 7


def test_open_usr_uses_usr_numbers(far_end):
    far, modem = far_end(open_script(dialect="usr", echo=True, country="B4"), country="B4")
    info = modem.open()
    far.check()
    assert (info.dialect, info.sample_format, info.vsm_code) == ("usr", pcm.U8, 128)
    assert info.vsm_command == "AT+VSM=128,8000"
    assert info.manufacturer == "U.S. Robotics"


def test_open_unknown_product_code_is_conexant_if_voice_mode_works(far_end):
    script = open_script()
    script[4] = Cmd("ATI0", b"\r\n33600\r\n" + OK)
    far, modem = far_end(script)
    assert modem.open().dialect == "conexant"
    far.check()


def test_open_refuses_a_modem_without_voice_mode(far_end):
    script = open_script()[:7] + [Cmd("AT+FCLASS=8", ERR)]
    far, modem = far_end(script)
    with pytest.raises(ModemError) as err:
        modem.open()
    assert "refused voice mode" in str(err.value) and err.value.command == "AT+FCLASS=8"
    far.check()


def test_open_prefers_mu_law_when_no_unsigned_8_bit(far_end):
    script = open_script()
    script[8] = Cmd("AT+VSM=?", b'\r\n129,"IMA ADPCM",4,0,8000,0,0\r\n132,"A-Law",8,0,8000,0,0\r\n'
                                b'131,"Mu-Law",8,0,8000,0,0\r\n' + OK)
    far, modem = far_end(script)
    info = modem.open()
    assert (info.sample_format, info.vsm_code) == (pcm.ULAW, 131)
    far.check()


def test_open_without_a_usable_format_says_what_was_offered(far_end):
    script = open_script()[:9] + [Cmd("AT+FCLASS=0")]
    script[8] = Cmd("AT+VSM=?", b'\r\n133,"14 bit PCM",14,0,8000,0,0\r\n' + OK)
    far, modem = far_end(script)
    with pytest.raises(ModemError) as err:
        modem.open()
    assert "no 8-bit audio format" in str(err.value) and "14 bit PCM" in str(err.value)
    far.check()


def test_failing_init_command_names_command_and_answer_after_retries(far_end):
    script = open_script()[:-2] + [Cmd("AT+VCID=1", ERR)] * 3
    far, modem = far_end(script)
    with pytest.raises(ModemError) as err:
        modem.open()
    far.check()
    assert err.value.command == "AT+VCID=1" and err.value.answer == "ERROR"
    assert "answered ERROR to AT+VCID=1 (caller ID on)" in str(err.value)
    assert "3 tries" in str(err.value)
    assert far.closed_seen.wait(2)  # the port was released for the next attempt


def test_a_retry_recovers_from_one_error(far_end):
    script = open_script()
    script.insert(-2, Cmd("AT+VCID=1", ERR))
    far, modem = far_end(script)
    modem.open()
    far.check()


def test_truncated_answer_is_retried(far_end):
    script = open_script()
    script.insert(-1, Cmd("ATM0", b"\r\nO"))
    far, modem = far_end(script)
    modem.open()
    far.check()


def test_sync_survives_silence_garbage_and_numeric_answers(far_end):
    script = [Cmd("AT", b"\x80\x7f\x10\x10\x81"),  # the tail of an old stream, no answer
              Cmd("AT", b"0\r")]  # ATV0: numeric OK
    script += open_script()[1:]
    far, modem = far_end(script)
    modem.open()
    far.check()


def test_sync_escapes_a_stream_left_running(far_end):
    script = [Cmd("AT", b"\x80" * 50), Cmd("AT", b"\x80" * 50),
              Expect(b"\x10\x03\x10\x5e\x10\x21\r", b"\x80\x10\x03\r\nOK\r\n"),
              Cmd("AT")] + open_script()[1:]
    far, modem = far_end(script)
    modem.open()
    far.check()


def test_nobody_answering_gives_a_clear_error(far_end):
    far, modem = far_end([Until(b"never")], timeout=0.2)
    with pytest.raises(ModemError) as err:
        modem.open()
    assert "did not answer AT" in str(err.value) and "ModemManager" in str(err.value)
    assert modem.dtr_drops == 1


def test_bad_country_code_is_refused_before_touching_the_port(far_end):
    far, modem = far_end([], country="USA")
    with pytest.raises(ModemError) as err:
        modem.open()
    assert "country code 'USA' is not valid" in str(err.value)


def test_missing_port_is_modem_gone_with_a_plain_message():
    modem = VoiceModem("/dev/ttyACM-does-not-exist", timeout=0.2)
    with pytest.raises(ModemGone) as err:
        modem.open()
    assert "no modem at /dev/ttyACM-does-not-exist" in str(err.value)


# ---------------------------------------------------------------- idle: rings and caller ID

def test_caller_id_between_first_and_second_ring(far_end):
    script = open_script() + [Send(RING), Send(CID_US, 0.05), Send(RING, 0.1)]
    far, modem = far_end(script)
    modem.open()
    call = modem.wait_for_call(2, threading.Event())
    far.check()
    assert call.rings == 2 and not call.cid_before_first_ring
    assert (call.caller.number, call.caller.name, call.caller.status) == (
        "5551234567", "DOE JOHN", "ok")
    assert len(call.ring_intervals) == 1 and 0.1 <= call.ring_intervals[0] < 1.0


def test_uk_caller_id_before_first_ring_usr_spelling(far_end):
    script = open_script(dialect="usr") + [
        Send(b"\r\nDATE=1203\r\nTIME=0915\r\nNMBR=P\r\n"), Send(RING, 0.05), Send(RING, 0.05),
        Send(RING, 0.05)]
    far, modem = far_end(script)
    modem.open()
    call = modem.wait_for_call(3, threading.Event())
    far.check()
    assert call.rings == 3 and call.cid_before_first_ring
    assert call.caller.status == "private" and call.caller.number is None
    assert len(call.ring_intervals) == 2


def test_no_caller_id_service(far_end):
    far, modem = far_end(open_script() + [Send(RING), Send(RING, 0.05)])
    modem.open()
    call = modem.wait_for_call(2, threading.Event())
    assert call.caller.status == "none" and call.rings == 2


def test_rings_stopping_resets_the_count(far_end):
    # A caller gives up after one ring (with caller ID); the next call rings twice.
    script = open_script() + [Send(RING), Send(CID_US, 0.02), Send(RING, 0.6),
                              Send(b"\r\nNMBR = 5550000\r\n", 0.05), Send(RING, 0.05)]
    far, modem = far_end(script, ring_gap=0.3)
    modem.open()
    call = modem.wait_for_call(2, threading.Event())
    far.check()
    assert call.caller.number == "5550000" and call.rings == 2


def test_wait_for_call_returns_none_when_stopped(far_end):
    far, modem = far_end(open_script())
    modem.open()
    stop = threading.Event()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    try:
        started = time.monotonic()
        assert modem.wait_for_call(2, stop) is None
        assert time.monotonic() - started < 1.0
    finally:
        timer.cancel()


def test_wait_for_call_rejects_a_silly_ring_count(far_end):
    far, modem = far_end(open_script())
    modem.open()
    with pytest.raises(ModemError) as err:
        modem.wait_for_call(0, threading.Event())
    assert "at least 1" in str(err.value)


def test_modem_that_reset_itself_while_idle_is_set_up_again(far_end):
    # An "OK" out of the blue (power glitch, firmware restart): re-init, caller ID back on.
    reinit = [Cmd("AT", echo=True), Cmd("ATZ", echo=True), Cmd("ATE0", echo=True),
              Cmd("ATV1")] + idle_script()
    script = open_script() + [Send(b"\r\nOK\r\n")] + reinit + [Send(RING), Send(RING, 0.05)]
    far, modem = far_end(script)
    modem.open()
    call = modem.wait_for_call(2, threading.Event())
    far.check()
    assert call.rings == 2 and modem.resets_seen == 1


def test_echo_returning_after_echo_off_triggers_reinit(far_end):
    reinit = [Cmd("AT"), Cmd("ATZ"), Cmd("ATE0"), Cmd("ATV1")] + idle_script()
    script = (open_script() + ANSWER + [Cmd("AT+VLS=0", echo=True), Cmd("AT+FCLASS=0"),
                                        Cmd("AT+VCID=1")] + reinit)
    far, modem = far_end(script)
    modem.open()
    modem.answer()
    modem.hang_up()
    far.check()
    assert modem.resets_seen == 1


def test_port_vanishing_while_idle_is_modem_gone(far_end):
    gone = Gone()
    far, modem = far_end(open_script() + [gone])
    modem.open()
    gone.trigger.set()
    with pytest.raises(ModemGone) as err:
        modem.wait_for_call(3, threading.Event())
    assert "stopped working" in str(err.value)


# ---------------------------------------------------------------- the call

def test_answer_duplex_audio_events_and_stop(far_end):
    audio_in = bytes([0x80, 0x90, 0x10, 0x70])
    wire_in = b"\x80\x90\x10\x10\x70" + b"\x10/\x105\x10~" + b"\x10\x1a"
    script = open_script() + ANSWER + [
        Cmd("AT+VTR", b"\r\nCONNECT\r\n" + wire_in),  # audio right behind CONNECT
        Send(b"\x10b\x80", 0.05),
        Until(b"\x10^", b"\x81\x10d\x10\x03\r\nOK\r\n")] + HANGUP
    far, modem = far_end(script)
    modem.open()
    modem.answer()
    assert modem.off_hook
    modem.start_duplex()
    got = np.zeros(0, np.int16)
    events: list[str] = []
    deadline = time.monotonic() + 2
    while "b" not in events and time.monotonic() < deadline:
        samples, ev = modem.read_audio(0.05)
        got = np.concatenate([got, samples])
        events += ev
    expected = pcm.decode(pcm.U8, audio_in + b"\x10\x10\x80")
    assert np.array_equal(got, expected)
    assert events == ["/", "5", "~", "b"]
    tx = pcm.tone(440, 0.05)
    modem.write_audio(tx)
    late = modem.stop_duplex()
    assert late == ["d"]
    assert not modem.streaming
    modem.hang_up()
    far.check()
    sent = script[-4].captured
    assert sent == pcm.encode(pcm.U8, tx).replace(b"\x10", b"\x10\x10")
    assert not modem.off_hook


def test_write_audio_shields_dle_and_paces_to_real_time(far_end):
    stop_marker = Until(b"\x10^", b"\x10\x03\r\nOK\r\n")
    script = open_script() + ANSWER + [Cmd("AT+VTR", b"\r\nCONNECT\r\n"), stop_marker]
    far, modem = far_end(script)
    modem.open()
    modem.answer()
    modem.start_duplex()
    samples = np.full(4000, -28672, dtype=np.int16)  # 0.5 s of the byte 0x10 in unsigned 8-bit
    leads = []
    started = time.monotonic()
    for i in range(0, 4000, 800):
        modem.write_audio(samples[i:i + 800])
        leads.append(modem.transmit_lead)
    elapsed = time.monotonic() - started
    modem.stop_duplex()
    far.check()
    assert stop_marker.captured == b"\x10\x10" * 4000
    assert 0.5 - 0.1 - 0.03 <= elapsed < 0.9
    assert max(leads) <= 0.1 + 0.02


def test_modem_ending_the_stream_itself(far_end):
    script = open_script() + ANSWER + [Cmd("AT+VTR", b"\r\nCONNECT\r\n\x80\x80\x10d\x10\x03"),
                                       Send(b"\r\nOK\r\n", 0.05)] + HANGUP
    far, modem = far_end(script)
    modem.open()
    modem.answer()
    modem.start_duplex()
    samples, events = modem.read_audio(0.5)
    assert len(samples) == 2 and events == ["d", "\x03"]
    assert len(modem.read_audio(0.01)[0]) == 0
    with pytest.raises(ModemError):
        modem.write_audio(pcm.silence())
    modem.hang_up()
    far.check()


def test_stuck_stream_is_ended_by_dtr_drop(far_end):
    reinit = [Cmd("AT"), Cmd("ATZ"), Cmd("ATE0"), Cmd("ATV1")] + idle_script()
    script = open_script() + ANSWER + [Cmd("AT+VTR", b"\r\nCONNECT\r\n"),
                                       StreamUntilHangup()] + reinit
    far, modem = far_end(script, stop_timeout=0.3)
    modem.open()
    modem.answer()
    modem.start_duplex()
    modem.read_audio(0.1)
    modem.stop_duplex()
    far.check(extra=None)
    assert far.hangups == 1 and modem.dtr_drops == 1
    assert not modem.off_hook and not modem.streaming


def test_hang_up_falls_back_to_ath(far_end):
    script = open_script() + ANSWER + [Cmd("AT+VLS=0", ERR), Cmd("ATH", b"\r\nNO CARRIER\r\n"),
                                       Cmd("AT+FCLASS=0"), Cmd("AT+VCID=1")]
    far, modem = far_end(script)
    modem.open()
    modem.answer()
    modem.hang_up()
    far.check()
    assert not modem.off_hook


def test_port_vanishing_mid_stream_is_modem_gone(far_end):
    gone = Gone()
    script = open_script() + ANSWER + [Cmd("AT+VTR", b"\r\nCONNECT\r\n\x80\x80"), gone]
    far, modem = far_end(script)
    modem.open()
    modem.answer()
    modem.start_duplex()
    assert len(modem.read_audio(1.0)[0]) > 0
    gone.trigger.set()
    with pytest.raises(ModemGone):
        for _ in range(100):
            modem.read_audio(0.05)


def test_failing_off_hook_names_the_command(far_end):
    script = open_script() + ANSWER[:-1] + [Cmd("AT+VLS=1", ERR)] * 3
    far, modem = far_end(script)
    modem.open()
    with pytest.raises(ModemError) as err:
        modem.answer()
    assert "AT+VLS=1 (pick up the line)" in str(err.value)
    far.check()


def test_read_audio_without_a_stream_is_a_clear_error(far_end):
    far, modem = far_end(open_script())
    modem.open()
    with pytest.raises(ModemError) as err:
        modem.read_audio()
    assert "No audio stream" in str(err.value)


def test_garbage_on_the_idle_line_is_ignored(far_end):
    garbage = b"\x00\xff\x10\x10junk\r\n\x7f\x80\x81\r\nRINGING?\r\nNMBR\r\n"
    script = open_script() + [Send(garbage), Send(RING), Send(b"\xfe\xfd" + CID_US, 0.02),
                              Send(garbage + RING, 0.02)]
    far, modem = far_end(script)
    modem.open()
    call = modem.wait_for_call(2, threading.Event())
    far.check()
    assert call.rings == 2 and call.caller.number == "5551234567"
    assert modem.resets_seen == 0


def test_key_pressed_before_the_stream_starts_is_not_lost(far_end):
    # Off-hook in voice command state the modem already reports DLE events (reference 7.1).
    script = open_script() + ANSWER + [
        Cmd("AT+VTR", b"\x10/\x107\x10~\r\nCONNECT\r\n\x80"),
        Until(b"\x10^", b"\x10\x03\r\nOK\r\n")]
    far, modem = far_end(script)
    modem.open()
    modem.answer()
    modem.start_duplex()
    samples, events = modem.read_audio(0.5)
    assert events == ["/", "7", "~"]
    modem.stop_duplex()
    far.check()


def test_late_answer_during_back_off_is_accepted(far_end):
    script = open_script()
    script[-1] = Expect(b"ATM0\r")
    script.append(Send(OK, 0.4))  # 0.3 s timeout, then the answer arrives in the back-off
    far, modem = far_end(script, timeout=0.3, backoff=0.3)
    modem.open()
    far.check()  # ATM0 was not sent a second time


def test_modem_resetting_while_answering_is_set_up_and_answers(far_end):
    reinit = [Cmd("AT", echo=True), Cmd("ATZ", echo=True), Cmd("ATE0", echo=True),
              Cmd("ATV1")] + idle_script()
    script = (open_script() + ANSWER[:-1]
              + [Expect(b"AT+VLS=1\r")]  # the modem restarts: no answer ...
              + [Cmd("AT+VLS=1", ERR, echo=True)] * 2  # ... then echo on, class 0: ERROR
              + reinit + ANSWER)
    far, modem = far_end(script)
    modem.open()
    modem.answer()
    far.check()
    assert modem.off_hook and modem.resets_seen == 1
