"""VoiceModem dialling out, answer confirmation, tones and dialling rules (pty transcripts)."""

from __future__ import annotations

import time

import pytest

from appliance import pcm
from appliance.dialing import DialRules
from appliance.modem import DialRefused, ModemError
from tests.test_modem_driver import (ANSWER, HANGUP, OK, Cmd, Expect, Send, Until,  # noqa: F401
                                     far_end, open_script)

VOICE = ANSWER[:-1]  # FCLASS=8, VSM, VSD, VIT, VGT, VGR (no off-hook: dialling takes the line)
DIAL_SETUP = VOICE + [Cmd("AT+VRA=50"), Cmd("AT+VRN=10")]
OK_AFTER_RINGBACK = OK  # ringback stopped for +VRA x 0.1 s: "presumed answered"


@pytest.mark.parametrize("number,why", [
    ("1-900-555-0100", "premium-rate prefix"),
    ("5551234567890123", "too long"),
    ("12", "too short"),
    ("555 CALL NOW", "use only digits"),
    ("", "No phone number"),
])
def test_rules_refuse_before_anything_is_dialled(far_end, number, why):
    far, modem = far_end(open_script())
    modem.open()
    with pytest.raises(DialRefused) as err:
        modem.dial(number)
    assert why in str(err.value)
    far.check()  # nothing beyond the open sequence was sent


def test_allowed_prefixes_and_country_rules():
    rules = DialRules(allowed_prefixes=("555",))
    assert rules.check("(555) 123-4567") == "5551234567"
    with pytest.raises(DialRefused) as err:
        rules.check("4441234567")
    assert "only allow numbers starting with 555" in str(err.value)
    uk = DialRules.for_country("B4")
    with pytest.raises(DialRefused):
        uk.check("09011234567")
    assert uk.check("01632 960123") == "01632960123"


def test_dial_busy_goes_back_to_idle(far_end):
    script = open_script() + DIAL_SETUP + [Cmd("ATDT5551234", b"\r\nBUSY\r\n"),
                                           Cmd("AT+FCLASS=0"), Cmd("AT+VCID=1")]
    far, modem = far_end(script)
    modem.open()
    outcome = modem.dial("555-1234")
    far.check()
    assert outcome.reason == "busy" and not outcome.off_hook and not modem.off_hook
    assert "busy" in outcome.message


def test_dial_usr_no_dialtone_spelling(far_end):
    script = open_script() + DIAL_SETUP + [Cmd("ATDT5551234", b"\r\nNO DIALTONE\r\n"),
                                           Cmd("AT+FCLASS=0"), Cmd("AT+VCID=1")]
    far, modem = far_end(script)
    modem.open()
    outcome = modem.dial("5551234")
    far.check()
    assert outcome.reason == "no_dial_tone" and "dial tone" in outcome.message


def test_dial_ok_is_only_presumed_then_confirmed_by_voice(far_end):
    voice = pcm.encode(pcm.U8, pcm.tone(300, 0.6, amplitude=0.4))
    script = open_script() + DIAL_SETUP + [
        Cmd("ATDT5551234", OK_AFTER_RINGBACK),
        Cmd("AT+VTR", b"\r\nCONNECT\r\n" + b"\x80" * 800),
        Send(voice.replace(b"\x10", b"\x10\x10"), 0.05),
        Until(b"\x10^", b"\x10\x03\r\nOK\r\n")] + HANGUP
    far, modem = far_end(script)
    modem.open()
    outcome = modem.dial("5551234")
    assert outcome.presumed_answered and outcome.off_hook and "presumed" in outcome.message
    modem.start_duplex()
    assert modem.confirm_answered(2.0) is True
    modem.hang_up()
    far.check()


def test_confirm_answered_false_on_busy_tone_after_ok(far_end):
    script = open_script() + DIAL_SETUP + [
        Cmd("ATDT5551234", OK_AFTER_RINGBACK),
        Cmd("AT+VTR", b"\r\nCONNECT\r\n" + b"\x80" * 400 + b"\x10b"),
        Until(b"\x10^", b"\x10\x03\r\nOK\r\n")] + HANGUP
    far, modem = far_end(script)
    modem.open()
    modem.dial("5551234")
    modem.start_duplex()
    assert modem.confirm_answered(2.0) is False
    modem.hang_up()
    far.check()


def test_confirm_answered_false_on_a_silent_line(far_end):
    script = open_script() + DIAL_SETUP + [
        Cmd("ATDT5551234", OK_AFTER_RINGBACK),
        Cmd("AT+VTR", b"\r\nCONNECT\r\n" + b"\x80\x81\x7f" * 800)]
    far, modem = far_end(script)
    modem.open()
    modem.dial("5551234")
    modem.start_duplex()
    started = time.monotonic()
    assert modem.confirm_answered(0.4) is False
    assert time.monotonic() - started < 1.0


def test_dial_error_is_a_modem_error_naming_the_command(far_end):
    script = open_script() + DIAL_SETUP + [Cmd("ATDT5551234", b"\r\nERROR\r\n")]
    far, modem = far_end(script)
    modem.open()
    with pytest.raises(ModemError) as err:
        modem.dial("5551234")
    assert err.value.command == "ATDT5551234" and "ERROR to ATDT5551234 (dial)" in str(err.value)


def test_dial_without_any_result_is_abandoned(far_end):
    script = open_script() + DIAL_SETUP + [Expect(b"ATDT5551234\r"), Expect(b"\r"),
                                           Cmd("AT+VLS=0"), Cmd("AT+FCLASS=0"),
                                           Cmd("AT+VCID=1")]
    far, modem = far_end(script, dial_timeout=0.3)
    modem.open()
    with pytest.raises(ModemError) as err:
        modem.dial("5551234")
    assert "gave no result" in str(err.value)
    far.check()


def test_send_tones_waits_for_the_tone_length(far_end):
    # 0.3 s of tone with a 0.2 s command timeout: the OK only comes once the tone has played.
    script = open_script() + ANSWER + [Expect(b"AT+VTS=[900,900,30]\r"), Send(OK, 0.3)]
    far, modem = far_end(script, timeout=0.2)
    modem.open()
    modem.answer()
    started = time.monotonic()
    modem.send_tones("[900,900,30]")
    assert time.monotonic() - started >= 0.3
    far.check()


@pytest.mark.parametrize("spec,words", [("[5000,0,10]", "200-3000 Hz"), ("hello", "not valid"),
                                        ("{1,900}", "too long"), ("", "No tones")])
def test_send_tones_refuses_bad_lists(far_end, spec, words):
    far, modem = far_end(open_script())
    modem.open()
    with pytest.raises(ModemError) as err:
        modem.send_tones(spec)
    assert words in str(err.value)
    far.check()
