"""Caller ID parsing: both vendor spellings, private/out-of-area markers, missing fields."""

import pytest

from appliance.callerid import CallerId, is_caller_id_line, parse_caller_id


def test_conexant_spacing():
    cid = parse_caller_id(["DATE = 0731", "TIME = 1030", "NMBR = 5551234567",
                           "NAME = DOE JOHN"])
    assert cid == CallerId(number="5551234567", name="DOE JOHN", status="ok", date="0731",
                           time="1030", lines=cid.lines)
    assert cid.describe() == "DOE JOHN (5551234567)"


def test_usr_spacing_and_noise_lines_ignored():
    cid = parse_caller_id(["RING", "", "DATE=1203", "TIME=0915", "NMBR=01632960123", "OK"])
    assert (cid.number, cid.name, cid.status, cid.date, cid.time) == (
        "01632960123", None, "ok", "1203", "0915")
    assert cid.lines == ["DATE=1203", "TIME=0915", "NMBR=01632960123"]


@pytest.mark.parametrize("marker,status", [("P", "private"), ("O", "unavailable"),
                                           ("A", "private"), ("p", "private")])
def test_markers(marker, status):
    cid = parse_caller_id(["DATE = 0101", f"NMBR = {marker}", f"NAME = {marker}"])
    assert cid.status == status and cid.number is None and cid.name is None


def test_private_name_with_real_number_is_still_ok():
    cid = parse_caller_id(["NMBR = 5551234567", "NAME = P"])
    assert cid.status == "ok" and cid.number == "5551234567" and cid.name is None


def test_first_real_number_wins_over_later_out_of_area():
    cid = parse_caller_id(["NMBR = 5551234567", "NMBR = O"])
    assert cid.status == "ok" and cid.number == "5551234567"


@pytest.mark.parametrize("tag", ["DDN_NMBR", "NBR"])
def test_alternative_number_tags(tag):
    assert parse_caller_id([f"{tag} = 5550001"]).number == "5550001"


def test_date_time_only_is_unavailable_and_nothing_is_none():
    assert parse_caller_id(["DATE = 0731", "TIME = 1030"]).status == "unavailable"
    empty = parse_caller_id([])
    assert empty.status == "none" and empty.describe() == "No caller ID"
    assert parse_caller_id(["RING", "RING"]).status == "none"


def test_mesg_is_ignored_and_does_not_count_as_caller_id():
    cid = parse_caller_id(["MESG = 060342424242"])
    assert cid.status == "none"
    cid = parse_caller_id(["MESG = 0603", "NMBR = 5551234"])
    assert cid.number == "5551234"


def test_number_is_cleaned_and_empty_number_is_unavailable():
    assert parse_caller_id(["NMBR = 555-123 4567"]).number == "5551234567"
    assert parse_caller_id(["NMBR = "]).status == "unavailable"


def test_is_caller_id_line():
    assert is_caller_id_line("NMBR = 123")
    assert is_caller_id_line("name=X")
    assert not is_caller_id_line("RING")
    assert not is_caller_id_line("+VSM=1")
    assert not is_caller_id_line(None)
