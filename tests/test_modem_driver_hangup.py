"""Hang-up classification: modem events, NO CARRIER and software silence on decoded line audio."""

import numpy as np
import pytest

from appliance import pcm
from appliance.hangup_detect import HangupDetector, is_machine, reason_for_event, reason_for_result


@pytest.mark.parametrize("code,reason", [("l", "loop_drop"), ("L", "polarity"),
                                         ("b", "busy_tone"), ("d", "dial_tone"),
                                         ("s", "modem_silence"), ("c", "fax_tone"),
                                         ("e", "data_tone"), ("\x03", "no_carrier"),
                                         ("5", None), ("u", None), ("P", None)])
def test_event_reasons(code, reason):
    assert reason_for_event(code) == reason
    det = HangupDetector(silence_s=1.0)
    assert det.feed(pcm.silence(10), ["/", code, "~"]) == reason


def test_no_carrier_line_and_machine_tones():
    assert reason_for_result("NO CARRIER\r\n") == "no_carrier"
    assert reason_for_result("OK") is None
    assert is_machine("fax_tone") and is_machine("data_tone") and not is_machine("busy_tone")
    det = HangupDetector()
    assert det.feed_result("NO CARRIER") == "no_carrier"


def u8_line(byte_values, seconds):
    """Unsigned 8-bit line bytes cycling through ``byte_values``, decoded as the driver does."""
    n = int(seconds * pcm.LINE_RATE)
    raw = bytes(byte_values[i % len(byte_values)] for i in range(n))
    return pcm.decode(pcm.U8, raw)


def test_software_silence_after_the_configured_time():
    det = HangupDetector(silence_s=2.0)
    quiet = u8_line([0x80, 0x7F, 0x81, 0x7E, 0x82], 0.5)
    for _ in range(3):
        assert det.feed(quiet) is None
    assert det.feed(quiet) == "silence"
    assert det.feed(u8_line([0x20, 0xE0], 0.1)) == "silence"  # sticky once decided


def test_speech_resets_the_silence_count():
    det = HangupDetector(silence_s=1.0)
    quiet = u8_line([0x80, 0x81], 0.6)
    assert det.feed(quiet) is None
    talk = pcm.tone(440, 0.1, amplitude=0.2)
    assert det.feed(talk) is None
    assert det.quiet_seconds < 0.01
    assert det.feed(quiet) is None  # 0.6 s since the talking stopped, not 1.2
    assert det.feed(quiet) == "silence"


def test_event_wins_over_silence_and_reset_clears():
    det = HangupDetector(silence_s=0.5)
    assert det.feed(u8_line([0x80], 1.0), ["b"]) == "busy_tone"
    det.reset()
    assert det.reason is None and det.feed(np.zeros(0, np.int16)) is None


def test_bad_silence_setting_is_explained():
    with pytest.raises(ValueError, match="more than 0 seconds"):
        HangupDetector(silence_s=0)
