"""Sample formats on the simulated modem's wire: the ``AT+VSM`` code tables of each dialect
and the codecs that turn int16 line audio into those bytes and back.

The 8-bit formats use ``appliance.pcm``; this module adds what only the simulator offers
(16-bit and 14-bit linear, IMA ADPCM) and the modem -> host DLE shielding, including the
Conexant ``10 1A`` short form for two data 0x10 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from appliance import pcm

DLE = 0x10
ETX = 0x03
SUB = 0x1A


@dataclass(frozen=True)
class WireFormat:
    """One entry of a dialect's ``AT+VSM=?`` list."""
    code: int
    label: str
    bits: int
    kind: str  # pcm.U8 / S8 / ULAW / ALAW, "s16", "pcm14" or "ima"
    rates: tuple[int, ...] = (8000,)


# Conexant CX93001 firmware list (reference section 4, seven entries, 8000 Hz only).
CONEXANT_FORMATS = (
    WireFormat(0, "SIGNED PCM", 8, pcm.S8),
    WireFormat(1, "UNSIGNED PCM", 8, pcm.U8),
    WireFormat(129, "IMA ADPCM", 4, "ima"),
    WireFormat(130, "UNSIGNED PCM", 8, pcm.U8),
    WireFormat(131, "Mu-Law", 8, pcm.ULAW),
    WireFormat(132, "A-Law", 8, pcm.ALAW),
    WireFormat(133, "14 bit PCM", 14, "pcm14"),
)

# USR5637 codes (reference section 4). The simulator runs them at 8000 Hz only.
USR_FORMATS = (
    WireFormat(128, "8-BIT LINEAR", 8, pcm.U8),
    WireFormat(129, "16-BIT LINEAR", 16, "s16"),
    WireFormat(130, "8-BIT ALAW", 8, pcm.ALAW),
    WireFormat(131, "8-BIT ULAW", 8, pcm.ULAW),
    WireFormat(132, "4-BIT IMA ADPCM", 4, "ima"),
)


def vsm_list_line(fmt: WireFormat, dialect: str) -> str:
    """One information line of ``AT+VSM=?`` in the dialect's layout."""
    if dialect == "usr":
        rates = ",".join(str(r) for r in fmt.rates)
        return f'{fmt.code},"{fmt.label}",{fmt.bits},0,({rates}),(0),(0)'
    return f'{fmt.code},"{fmt.label}",{fmt.bits},0,{fmt.rates[0]},0,0'


# ----------------------------------------------------------------- IMA ADPCM

_IMA_STEPS = np.array([
    7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66,
    73, 80, 88, 97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408,
    449, 494, 544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066,
    2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630,
    9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794,
    32767], dtype=np.int32).tolist()
_IMA_INDEX = [-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8]


class _ImaState:
    def __init__(self) -> None:
        self.predicted = 0
        self.index = 0

    def _apply(self, nibble: int) -> int:
        step = _IMA_STEPS[self.index]
        diff = step >> 3
        if nibble & 4:
            diff += step
        if nibble & 2:
            diff += step >> 1
        if nibble & 1:
            diff += step >> 2
        if nibble & 8:
            diff = -diff
        self.predicted = max(-32768, min(32767, self.predicted + diff))
        self.index = max(0, min(88, self.index + _IMA_INDEX[nibble]))
        return self.predicted

    def encode_sample(self, sample: int) -> int:
        step = _IMA_STEPS[self.index]
        diff = sample - self.predicted
        nibble = 0
        if diff < 0:
            nibble = 8
            diff = -diff
        if diff >= step:
            nibble |= 4
            diff -= step
        if diff >= step >> 1:
            nibble |= 2
            diff -= step >> 1
        if diff >= step >> 2:
            nibble |= 1
        self._apply(nibble)
        return nibble


class WireCodec:
    """Encoder and decoder for one stream in one wire format (stateful for ADPCM and for
    multi-byte samples split across reads). Nibble order for IMA ADPCM is low nibble first."""

    def __init__(self, fmt: WireFormat) -> None:
        self.fmt = fmt
        self._enc_state = _ImaState()
        self._dec_state = _ImaState()
        self._partial = b""

    @property
    def bytes_per_second(self) -> float:
        return 8000 * {4: 0.5, 8: 1, 14: 2, 16: 2}[self.fmt.bits]

    def silence_byte(self) -> int:
        return pcm.SILENCE_BYTE.get(self.fmt.kind, 0)

    def encode(self, samples: np.ndarray) -> bytes:
        s = np.asarray(samples, dtype=np.int16)
        kind = self.fmt.kind
        if kind in pcm.FORMATS:
            return pcm.encode(kind, s)
        if kind == "s16":
            return s.astype("<i2").tobytes()
        if kind == "pcm14":
            # Left-justified 14-bit words with bit 0 set, as the CX93001 sends them.
            return ((s & ~0x3) | 0x1).astype("<i2").tobytes()
        if kind == "ima":
            out = bytearray()
            values = s.tolist()
            if len(values) % 2:
                values.append(values[-1])
            for i in range(0, len(values), 2):
                lo = self._enc_state.encode_sample(values[i])
                hi = self._enc_state.encode_sample(values[i + 1])
                out.append(lo | (hi << 4))
            return bytes(out)
        raise ValueError(f"unknown wire format {kind!r}")

    def decode(self, data: bytes) -> np.ndarray:
        kind = self.fmt.kind
        if kind in pcm.FORMATS:
            return pcm.decode(kind, data)
        if kind in ("s16", "pcm14"):
            data = self._partial + data
            whole = len(data) - len(data) % 2
            self._partial = data[whole:]
            words = np.frombuffer(data[:whole], dtype="<i2").astype(np.int16)
            return words if kind == "s16" else (words & ~0x3).astype(np.int16)
        if kind == "ima":
            out = []
            for byte in data:
                out.append(self._dec_state._apply(byte & 0x0F))
                out.append(self._dec_state._apply(byte >> 4))
            return np.array(out, dtype=np.int16)
        raise ValueError(f"unknown wire format {kind!r}")


class OutboundShield:
    """Modem -> host DLE shielding. Every data 0x10 is doubled; with ``use_sub`` (Conexant)
    every second pair of adjacent data 0x10 bytes is sent as ``10 1A`` instead of
    ``10 10 10 10`` (the reference's "occasionally")."""

    def __init__(self, use_sub: bool) -> None:
        self.use_sub = use_sub
        self._pairs = 0
        self.sub_sent = 0

    def shield(self, data: bytes) -> bytes:
        if DLE not in data:
            return bytes(data)
        out = bytearray()
        run = 0
        for b in data:
            if b == DLE:
                run += 1
                continue
            if run:
                self._emit_run(out, run)
                run = 0
            out.append(b)
        if run:
            self._emit_run(out, run)
        return bytes(out)

    def _emit_run(self, out: bytearray, run: int) -> None:
        if not self.use_sub:
            out += b"\x10\x10" * run
            return
        for _ in range(run // 2):
            self._pairs += 1
            if self._pairs % 2 == 0:
                out += b"\x10\x1a"
                self.sub_sent += 1
            else:
                out += b"\x10\x10\x10\x10"
        if run % 2:
            out += b"\x10\x10"
