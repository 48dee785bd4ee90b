"""The simulated modem's command interpreter, byte for byte, in both dialects (reference
sections 2-5 and 9): raw pyserial transcripts against the simulator's pty."""

from __future__ import annotations

import time

import pytest

from appliance.modem_sim import ModemSimulator
from tests.test_modem_sim_helpers import Port, dialect, go_voice, port, sim  # noqa: F401


def test_echo_then_verbose_answer_exactly_as_on_the_wire(port):
    port.send(b"AT\r")
    assert port.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"
    port.send(b"ATE0\r")
    assert port.read_until(b"OK\r\n") == b"ATE0\r\r\nOK\r\n"  # this reply is still echoed
    port.send(b"AT\r")
    assert port.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    port.send(b"ATV0\r")
    assert port.read_until(b"0\r") == b"0\r"
    port.send(b"AT+NOPE\r")  # unknown: numeric ERROR is 4
    assert port.read_until(b"\r") == b"4\r"
    port.send(b"ATV1\r")
    assert port.read_until(b"OK\r\n") == b"\r\nOK\r\n"


def test_crlf_lowercase_and_leading_garbage_are_accepted(port):
    port.command("ATE0")
    port.send(b"at\r\n")
    assert port.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    port.send(b"\x7fzz AT\r")
    assert port.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    port.send(b"hello\r")  # no AT: a modem says nothing
    port.send(b"AT\r")
    assert port.read_until(b"OK\r\n") == b"\r\nOK\r\n"


def test_a_slash_repeats_the_last_command(port):
    port.command("ATE0")
    assert port.info("ATI0")
    port.send(b"A/")
    again = port.read_until(b"OK\r\n")
    assert again.startswith(b"\r\n5") and again.endswith(b"\r\nOK\r\n")


@pytest.mark.parametrize("dialect,expected", [
    ("conexant", {"ATI0": "56000", "ATI": "56000", "ATI3": "CX93001-EIS_V0.2013-V92",
                  "AT+GMI": "CONEXANT", "AT+GMR": "CX93001-EIS_V0.2013-V92"}),
    ("usr", {"ATI0": "5601", "ATI3": "U.S. Robotics 56K FAX USB V1.2.23",
             "AT+GMI": "U.S. Robotics", "AT+GMR": "1.2.23"}),
])
def test_identification_per_dialect(port, dialect, expected):
    port.command("ATE0")
    for command, text in expected.items():
        assert port.info(command) == [text], command
    port.send(b"ATI0\r")
    assert port.read_until(b"OK\r\n") == f"\r\n{expected['ATI0']}\r\n\r\nOK\r\n".encode()


def test_chained_commands_give_one_ok_and_a_bad_one_gives_only_error(port, dialect):
    port.command("ATE0")
    port.send(b"ATE0V1S0=0M0\r")
    assert port.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    port.send(b"AT+VCID=1;+GCI=B4\r")
    assert port.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    assert port.info("AT+GCI?") == ["+GCI: B4"]
    answer = port.command("AT+VCID=0;+FOO=1;+GCI=B5", final="ERROR")
    assert b"OK" not in answer
    assert port.info("AT+VCID?") == ["0"]  # commands before the bad one did run
    assert port.info("AT+GCI?") == ["+GCI: B4"]  # the ones after it did not


def test_conexant_caller_id_settings_are_cleared_by_atz(port, dialect):
    port.command("ATE0")
    if dialect == "usr":
        port.command("AT-SCID=1", final="ERROR")  # Conexant-only commands
        port.command("AT-STE=3", final="ERROR")
        port.command("AT+VCID=1")
        port.command("ATZ")
        assert port.info("AT+VCID?") == ["0"]
        return
    port.command("AT-SCID=1;+VCID=1;-STE=3")
    assert port.info("AT+VCID?") == ["1"]
    assert port.info("AT-STE?") == ["3"]
    port.command("ATZ")
    assert port.info("AT+VCID?") == ["0"]
    assert port.info("AT-STE?") == ["0"]
    assert port.info("AT-SCID?") == ["0"]
    port.command("AT+VCID=1")
    port.command("AT&F")
    assert port.info("AT+VCID?") == ["0"]


def test_atz_loads_the_saved_profile_and_at_f_the_factory_one(port):
    port.command("ATE0")
    port.command("ATS0=2")
    port.command("AT&W")
    port.command("ATS0=5")
    port.send(b"ATZ\r")
    assert port.read_until(b"OK\r\n") == b"\r\nOK\r\n"  # echo stays off: E0 was saved
    assert port.info("ATS0?") == ["002"]
    port.send(b"AT&F\r")
    assert port.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    port.send(b"AT\r")
    assert port.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"  # factory: echo on again
    port.command("ATE0")
    assert port.info("ATS0?") == ["000"]


def test_fclass_and_voice_commands_only_in_class_8(port, dialect):
    port.command("ATE0")
    assert port.info("AT+FCLASS=?") == ["0,1,1.0,2,8" if dialect == "conexant" else "0,1,1.0,8"]
    assert port.info("AT+FCLASS?") == ["0"]
    for command in ("AT+VSD?", "AT+VSM=?", "AT+VLS=1", "AT+VTX", "AT+VGT=128", "AT+VTS=1"):
        port.command(command, final="ERROR")
    port.command("AT+FCLASS=8")
    assert port.info("AT+FCLASS?") == ["8"]
    assert port.info("AT+VSD?") == ["128,0"]
    port.command("AT+FCLASS=9", final="ERROR")
    port.command("AT+VCID=1")  # caller ID works in any class
    port.command("AT+FCLASS=0")


def test_vsm_lists_and_selects_the_dialects_formats(port, dialect):
    port.command("ATE0")
    port.command("AT+FCLASS=8")
    listed = port.info("AT+VSM=?")
    if dialect == "conexant":
        assert listed == ['0,"SIGNED PCM",8,0,8000,0,0', '1,"UNSIGNED PCM",8,0,8000,0,0',
                          '129,"IMA ADPCM",4,0,8000,0,0', '130,"UNSIGNED PCM",8,0,8000,0,0',
                          '131,"Mu-Law",8,0,8000,0,0', '132,"A-Law",8,0,8000,0,0',
                          '133,"14 bit PCM",14,0,8000,0,0']
        assert port.info("AT+VSM?") == ["1,8000,0,0"]
        for form in ("AT+VSM=131,8000,0,0", "AT+VSM=130,8000", "AT+VSM=132"):
            port.command(form)
        assert port.info("AT+VSM?") == ["132,8000,0,0"]
        port.command("AT+VSM=128,8000", final="ERROR")  # a USR code
    else:
        assert [line.split(",")[0] for line in listed] == ["128", "129", "130", "131", "132"]
        assert listed[0] == '128,"8-BIT LINEAR",8,0,(8000),(0),(0)'
        port.command("AT+VSM=128,8000")
        assert port.info("AT+VSM?") == ["128,8000"]
        port.command("AT+VSM=1,8000", final="ERROR")  # a Conexant code
    port.command("AT+VSM=131,11025", final="ERROR")  # 8000 Hz only
    port.command("AT+VSM=abc", final="ERROR")


@pytest.mark.parametrize("command,range_text,default,good,bad", [
    ("+VSD", "(0-255),(0-255)", "128,0", "0,0", "0,256"),
    ("+VIT", "(0-255)", "0", "0", "300"),
    ("+VGT", "(0-255)", "128", "200", "256"),
    ("+VGR", "(0-255)", "128", "255", "999"),
    ("+VTD", "(0-255)", "100", "30", "-1"),
    ("+VRA", "(0-255)", "50", "20", "x"),
    ("+VRN", "(0-255)", "10", "0", "1000"),
    ("+VNH", "(0-2)", "0", "1", "3"),
])
def test_voice_parameters_set_query_and_range(port, command, range_text, default, good, bad):
    port.command("ATE0")
    port.command("AT+FCLASS=8")
    assert port.info(f"AT{command}=?") == [range_text]
    assert port.info(f"AT{command}?") == [default]
    port.command(f"AT{command}={good}")
    assert port.info(f"AT{command}?") == [good]
    port.command(f"AT{command}={bad}", final="ERROR")
    assert port.info(f"AT{command}?") == [good]


def test_vls_accepts_on_and_off_hook_only(port):
    port.command("ATE0")
    port.command("AT+FCLASS=8")
    assert port.info("AT+VLS=?") == ['0,"",00000000,00000000,00000000',
                                     '1,"T",0B8418E000,0FE418E000,0B8419E000']
    for label in ("2", "3", "14", "15", "7"):
        port.command(f"AT+VLS={label}", final="ERROR")
    port.command("AT+VLS=1")
    assert port.info("AT+VLS?") == ["1"]
    port.command("AT+VLS=0")
    assert port.info("AT+VLS?") == ["0"]


def test_stream_commands_need_off_hook_and_their_test_form_errors_on_conexant(port, dialect):
    port.command("ATE0")
    port.command("AT+FCLASS=8")
    for command in ("AT+VTX", "AT+VRX", "AT+VTR"):
        port.command(command, final="ERROR")  # on-hook
        port.command(f"{command}=?", final="ERROR" if dialect == "conexant" else "OK")
        port.command(f"{command}?", final="ERROR")


def test_vts_answers_ok_only_after_the_tones_have_played(port):
    port.command("ATE0")
    port.command("AT+FCLASS=8")
    port.send(b"AT+VTS=[900,900,80]\r")  # 0.8 s
    started = time.monotonic()
    early = port.read_for(0.3)
    assert b"OK" not in early
    port.read_until(b"\r\nOK\r\n", timeout=3)
    assert time.monotonic() - started >= 0.75
    port.command("AT+VTD=10")
    port.command("AT+VTS=1,2,{3,5},!")
    for bad in ("[100,900,10]", "[900,900,300]", "1,X", "[900,900]", ""):
        port.command(f"AT+VTS={bad}", final="ERROR")


def test_other_commands_of_the_init_sequence(port, dialect):
    port.command("ATE0")
    for command in ("ATS0=0", "ATM0", "ATL1", "ATX4", "AT&W", "AT&W0", "ATH", "ATH0", "AT&D2",
                    "AT+GCI=B5", "AT+GCI=b4"):
        port.command(command)
    assert port.info("ATS0?") == ["000"]
    assert port.info("AT+GCI?") == ["+GCI: B4"]
    port.command("AT+GCI=ZZ", final="ERROR")
    port.command("ATS0=256", final="ERROR")
    port.command("ATM7", final="ERROR")
    port.command("AT+NOPE", final="ERROR")
    port.command("ATI9", final="ERROR")
    port.command("ATO", final="NO CARRIER")
    port.command("AT+FCLASS=8")
    port.command("ATA", final="ERROR")  # not the voice way to answer
    port.command("AT+FCLASS=0")
    port.command("AT+VEM=?", final="ERROR")
    profile = port.info("AT&V")
    assert any(line.startswith("E0") for line in profile)
    if dialect == "conexant":
        port.command("AT!4886=00")
    else:
        port.command("AT!4886=00", final="ERROR")


def test_usr_ath_returns_to_class_0_and_conexant_keeps_the_class(port, dialect):
    port.command("ATE0")
    port.command("AT+FCLASS=8")
    port.command("AT+VLS=1")
    port.command("ATH")
    assert port.info("AT+FCLASS?") == ["0" if dialect == "usr" else "8"]


def test_closing_the_port_is_dtr_drop_and_the_next_open_is_served(sim, dialect):
    first = Port(sim.port)
    try:
        first.command("ATE0")
        first.command("AT+FCLASS=8")
        first.command("AT+VLS=1")
    finally:
        first.close()
    assert sim.client_disconnected.wait(2)  # DTR stays low long enough to be seen
    second = Port(sim.port)
    try:
        assert sim.client_connected.wait(2)
        second.command("AT")
        assert second.info("AT+FCLASS?") == ["0"]
        second.command("AT+FCLASS=8")
        assert second.info("AT+VLS?") == ["0"]
    finally:
        second.close()


def test_bad_simulator_settings_are_explained():
    with pytest.raises(ValueError, match="dialect 'zoom' is not simulated"):
        ModemSimulator(dialect="zoom")
    with pytest.raises(ValueError, match="Unknown simulator fault 'explode'"):
        ModemSimulator(faults={"explode": True})
    with pytest.raises(ValueError, match="mapping of command to seconds"):
        ModemSimulator(faults={"delay_on": "AT"})
    with pytest.raises(RuntimeError, match="not running"):
        from appliance.modem_sim import SimCall
        ModemSimulator().place_call(SimCall())
