"""Line audio samples: the modem's 8-bit wire formats to and from 16-bit PCM, and test tones.

Inside the engine, line audio is always mono signed 16-bit numpy arrays at 8000 Hz, in 20 ms
frames of 160 samples. The modem speaks one of several 8-bit formats (chosen at start-up from
what ``AT+VSM=?`` offers); this module converts between them without ``audioop`` (gone in
Python 3.13).
"""

from __future__ import annotations

import numpy as np

LINE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_SECONDS = FRAME_SAMPLES / LINE_RATE

# Format names used throughout the code base.
U8 = "u8"  # unsigned 8-bit linear, silence 0x80
S8 = "s8"  # signed 8-bit linear, silence 0x00
ULAW = "ulaw"  # G.711 mu-law, silence 0xFF
ALAW = "alaw"  # G.711 A-law, silence 0xD5
FORMATS = (U8, S8, ULAW, ALAW)

SILENCE_BYTE = {U8: 0x80, S8: 0x00, ULAW: 0xFF, ALAW: 0xD5}


def _build_ulaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32)
    u = ~codes & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32)
    a = codes ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_ULAW_DECODE = _build_ulaw_table()
_ALAW_DECODE = _build_alaw_table()


def _encoder_for(decode_table: np.ndarray) -> np.ndarray:
    """Encoder as a 65536-entry lookup: for every int16 value, the code decoding nearest to it."""
    order = np.argsort(decode_table, kind="stable")
    sorted_values = decode_table[order].astype(np.int32)
    everything = np.arange(-32768, 32768, dtype=np.int32)
    idx = np.searchsorted(sorted_values, everything)
    idx = np.clip(idx, 1, len(sorted_values) - 1)
    left = sorted_values[idx - 1]
    right = sorted_values[idx]
    pick = np.where(everything - left <= right - everything, idx - 1, idx)
    return order[pick].astype(np.uint8)


_ULAW_ENCODE = _encoder_for(_ULAW_DECODE)
_ALAW_ENCODE = _encoder_for(_ALAW_DECODE)


def decode(fmt: str, data: bytes) -> np.ndarray:
    """Wire bytes in ``fmt`` to int16 samples."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if fmt == U8:
        return ((raw.astype(np.int16) - 128) << 8).astype(np.int16)
    if fmt == S8:
        return (raw.view(np.int8).astype(np.int16) << 8).astype(np.int16)
    if fmt == ULAW:
        return _ULAW_DECODE[raw]
    if fmt == ALAW:
        return _ALAW_DECODE[raw]
    raise ValueError(f"unknown line audio format {fmt!r}")


def encode(fmt: str, samples: np.ndarray) -> bytes:
    """int16 samples to wire bytes in ``fmt``."""
    s = np.asarray(samples, dtype=np.int16)
    if fmt == U8:
        return ((s.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
    if fmt == S8:
        return (s.astype(np.int32) >> 8).astype(np.int8).tobytes()
    if fmt == ULAW:
        return _ULAW_ENCODE[s.astype(np.int32) + 32768].tobytes()
    if fmt == ALAW:
        return _ALAW_ENCODE[s.astype(np.int32) + 32768].tobytes()
    raise ValueError(f"unknown line audio format {fmt!r}")


def silence(samples: int = FRAME_SAMPLES) -> np.ndarray:
    return np.zeros(samples, dtype=np.int16)


def tone(freqs: float | tuple[float, ...], seconds: float, rate: int = LINE_RATE,
         amplitude: float = 0.3, start_sample: int = 0) -> np.ndarray:
    """A steady (multi-)frequency tone as int16; ``start_sample`` continues a tone without clicks."""
    if isinstance(freqs, (int, float)):
        freqs = (float(freqs),)
    n = int(round(seconds * rate))
    t = (np.arange(n) + start_sample) / rate
    wave = sum(np.sin(2 * np.pi * f * t) for f in freqs) / max(len(freqs), 1)
    return (wave * amplitude * 32767).astype(np.int16)


def rms(samples: np.ndarray) -> float:
    """Root mean square level of int16 samples, 0..32767."""
    if len(samples) == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.asarray(samples, dtype=np.float64) ** 2)))


def level_at(samples: np.ndarray, freq: float, rate: int = LINE_RATE) -> float:
    """Relative energy of ``freq`` in ``samples`` (Goertzel), 0..1 of a full-scale sine."""
    x = np.asarray(samples, dtype=np.float64) / 32768.0
    n = len(x)
    if n == 0:
        return 0.0
    t = np.arange(n) / rate
    re = float(np.dot(x, np.cos(2 * np.pi * freq * t)))
    im = float(np.dot(x, np.sin(2 * np.pi * freq * t)))
    return 2.0 * float(np.hypot(re, im)) / n
