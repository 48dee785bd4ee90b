"""The simulator's wire formats and shielding, without a pty: every VSM code of both dialects
round-trips, IMA ADPCM tracks a tone, and the Conexant DLE SUB form decodes correctly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from appliance import pcm
from appliance.modem_sim.wire import CONEXANT_FORMATS, USR_FORMATS, OutboundShield, WireCodec
from tests.test_modem_sim_helpers import decode_stream


@pytest.mark.parametrize("fmt", CONEXANT_FORMATS + USR_FORMATS, ids=lambda f: f"{f.code}-{f.kind}")
def test_every_format_round_trips_a_tone(fmt):
    tone = pcm.tone(440, 0.5)
    codec = WireCodec(fmt)
    data = codec.encode(tone)
    assert len(data) == int(len(tone) * codec.bytes_per_second / 8000)
    back = WireCodec(fmt).decode(data)
    assert len(back) == len(tone)
    error = pcm.rms(back[400:].astype(np.int32) - tone[400:])
    assert error < 0.1 * pcm.rms(tone), fmt
    assert pcm.level_at(back, 440) > 0.25


def test_sixteen_bit_samples_split_across_reads_are_kept():
    fmt = next(f for f in USR_FORMATS if f.kind == "s16")
    samples = np.array([1, -2, 300, -32768, 32767], dtype=np.int16)
    data = WireCodec(fmt).encode(samples)
    dec = WireCodec(fmt)
    parts = [dec.decode(data[:3]), dec.decode(data[3:7]), dec.decode(data[7:])]
    assert np.array_equal(np.concatenate(parts), samples)


def test_fourteen_bit_words_have_bit_0_set_and_decode_without_it():
    fmt = next(f for f in CONEXANT_FORMATS if f.kind == "pcm14")
    data = WireCodec(fmt).encode(np.array([0, 1000, -1000], dtype=np.int16))
    words = np.frombuffer(data, dtype="<i2")
    assert np.all(words & 1 == 1)
    assert list(WireCodec(fmt).decode(data)) == [0, 1000, -1000]


@given(st.binary(max_size=400), st.booleans())
def test_shielded_audio_decodes_back_to_the_same_bytes(data, use_sub):
    shield = OutboundShield(use_sub=use_sub)
    wire = shield.shield(data) + shield.shield(data)
    audio, events, _ = decode_stream(wire)
    assert audio == data + data and events == []


def test_conexant_uses_dle_sub_for_every_second_pair():
    shield = OutboundShield(use_sub=True)
    assert shield.shield(b"\x10\x10") == b"\x10\x10\x10\x10"
    assert shield.shield(b"\x10\x10") == b"\x10\x1a"
    assert shield.shield(b"a\x10b") == b"a\x10\x10b"
    assert OutboundShield(use_sub=False).shield(b"\x10\x10" * 2) == b"\x10\x10" * 4
