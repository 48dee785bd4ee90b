"""DLE shielding: shield, DleDecoder (any split of a stream, random bytes) and DtmfCollector."""

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.dle import DleDecoder, DtmfCollector, shield

EVENT_CODES = list("0123456789*#ABCD/~bdsqlLPpHhrJceafuoR")


def decode_all(chunks):
    dec = DleDecoder()
    audio, events = b"", []
    for chunk in chunks:
        a, e = dec.feed(chunk)
        audio += a
        events += e
    return audio, events, dec


def test_shield_doubles_every_dle_and_nothing_else():
    assert shield(b"\x80\x10\x7f\x10\x10") == b"\x80\x10\x10\x7f\x10\x10\x10\x10"
    assert shield(b"") == b""
    assert shield(bytes(range(256))).count(b"\x10") == 2


def test_decoder_reference_example_dtmf_and_dial_tone():
    audio, events, _ = decode_all([b"\x80\x81\x10\x10\x7f\x10/\x105\x10~\x80\x10d"])
    assert audio == b"\x80\x81\x10\x7f\x80"
    assert events == ["/", "5", "~", "d"]


def test_decoder_dle_sub_is_two_data_bytes():
    audio, events, _ = decode_all([b"\x01\x10\x1a\x02"])
    assert audio == b"\x01\x10\x10\x02" and events == []


def test_decoder_keeps_a_trailing_dle_across_reads():
    audio, events, _ = decode_all([b"\x80\x10", b"\x10\x81\x10", b"b"])
    assert audio == b"\x80\x10\x81" and events == ["b"]


def test_decoder_stops_at_end_of_stream_and_keeps_the_rest():
    dec = DleDecoder()
    audio, events = dec.feed(b"\x80\x10\x03\r\nOK")
    assert audio == b"\x80" and events == ["\x03"]
    assert dec.ended and bytes(dec.remainder) == b"\r\nOK"
    assert dec.feed(b"\r\n") == (b"", [])
    assert bytes(dec.remainder) == b"\r\nOK\r\n"
    dec.reset()
    assert not dec.ended and dec.feed(b"\x81") == (b"\x81", [])


def test_decoder_complex_event_report_is_one_event_with_text():
    audio, events, dec = decode_all([b"\x80\x10XNMBR=555\x10", b".\x81"])
    assert audio == b"\x80\x81" and events == ["X"]
    assert dec.reports == ["NMBR=555"]


def test_decoder_overlong_report_gives_the_bytes_back_as_audio():
    payload = b"\x42" * 600
    audio, events, _ = decode_all([b"\x10X" + payload])
    assert events == [] and audio == payload


def valid_stream_items():
    audio = st.binary(min_size=1, max_size=40).map(lambda b: ("audio", b))
    event = st.sampled_from(EVENT_CODES).map(lambda c: ("event", c))
    sub = st.just(("sub", None))
    return st.lists(st.one_of(audio, event, sub), max_size=30)


def build(items, end):
    wire, audio, events = b"", b"", []
    for kind, value in items:
        if kind == "audio":
            wire += shield(value)
            audio += value
        elif kind == "sub":
            wire += b"\x10\x1a"
            audio += b"\x10\x10"
        else:
            wire += b"\x10" + value.encode()
            events.append(value)
    if end:
        wire += b"\x10\x03\r\nOK\r\n"
        events.append("\x03")
    return wire, audio, events


@settings(max_examples=300, deadline=None)
@given(valid_stream_items(), st.booleans(), st.data())
def test_any_split_of_a_valid_stream_decodes_the_same(items, end, data):
    wire, want_audio, want_events = build(items, end)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    chunks = [wire[a:b] for a, b in zip([0] + cuts, cuts + [len(wire)])]
    audio, events, dec = decode_all(chunks)
    assert audio == want_audio
    assert events == want_events
    assert dec.ended == end
    if end:
        assert bytes(dec.remainder) == b"\r\nOK\r\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_random_bytes_never_raise_and_events_are_single_characters(chunks):
    audio, events, _ = decode_all(chunks)
    assert isinstance(audio, bytes)
    assert all(isinstance(e, str) and len(e) == 1 for e in events)
    assert len(audio) <= 2 * sum(len(c) for c in chunks)


def test_dtmf_groups_collapse_to_one_digit_each():
    col = DtmfCollector()
    assert col.feed(["/", "0", "0", "0", "~", "/", "5", "~"]) == ["0", "5"]


def test_dtmf_bare_digits_and_other_events():
    col = DtmfCollector()
    assert col.feed(["1", "b", "2", "u", "#"]) == ["1", "2", "#"]


def test_dtmf_group_split_across_feeds_counts_once():
    col = DtmfCollector()
    assert col.feed(["/", "7"]) == ["7"]
    assert col.feed(["7", "7"]) == []
    assert col.feed(["~", "7"]) == ["7"]


def test_dtmf_new_group_without_end_marker_starts_afresh():
    col = DtmfCollector()
    assert col.feed(["/", "1", "/", "2", "2", "~"]) == ["1", "2"]
    assert col.feed(["/", "~"]) == []
