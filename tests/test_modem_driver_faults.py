"""Fuzzing the driver: whatever a broken modem sends, only ModemError/ModemGone come out."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.modem import ModemError, VoiceModem
from tests.test_modem_driver import ANSWER, Cmd, FarEnd, Until, open_script

FRAGMENTS = [b"\r\nOK\r\n", b"\r\nERROR\r\n", b"OK", b"\r\n", b"0\r", b"4\r", b"\r\nRING\r\n",
             b"\r\nNMBR = 555\r\n", b"\x10", b"\x10\x03", b"\x10b", b"\xff\x00\x80",
             b"\r\nCONNECT\r\n", b"\r\nNO CARRIER\r\n", b"", b"\r\n56000\r\n",
             b'\r\n1,"UNSIGNED PCM",8,0,8000,0,0\r\n', b"AT\r"]


class RandomReplies:
    """Answer every command (up to CR) with the next scripted reply, cycling."""

    def __init__(self, replies):
        self.replies = replies

    def run(self, far):
        i = 0
        while not far.stop.is_set():
            far._read(0.02)
            while b"\r" in far.buf:
                cut = far.buf.index(b"\r")
                del far.buf[:cut + 1]
                far.write(self.replies[i % len(self.replies)])
                i += 1


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=3).map(b"".join),
                min_size=1, max_size=12))
def test_open_against_random_answers_raises_only_modem_errors(replies):
    far = FarEnd([RandomReplies(replies)])
    modem = VoiceModem(far.port, timeout=0.05, retries=1, backoff=0.0)
    try:
        try:
            info = modem.open()
        except ModemError as exc:
            assert str(exc)  # a sentence, never empty
        else:
            assert info.sample_format
    finally:
        modem.close()
        far.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_random_stream_bytes_never_break_read_or_stop(chunks):
    stream = b"".join(chunks)
    script = open_script() + ANSWER + [Cmd("AT+VTR", b"\r\nCONNECT\r\n" + stream),
                                       Until(b"\x10^", b"\x10\x03\r\nOK\r\n")]
    far = FarEnd(script)
    modem = VoiceModem(far.port, timeout=0.5, backoff=0.0, stop_timeout=0.5)
    try:
        modem.open()
        modem.answer()
        modem.start_duplex()
        for _ in range(3):
            try:
                samples, events = modem.read_audio(0.02)
            except ModemError:
                break
            assert samples.dtype == np.int16
            assert all(isinstance(e, str) and len(e) == 1 for e in events)
        try:
            modem.stop_duplex()
        except ModemError as exc:
            assert str(exc)
    finally:
        modem.close()
        far.close()
