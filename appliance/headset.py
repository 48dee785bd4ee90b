"""Staff headsets: the ``Headset`` interface, its PortAudio implementation, and the ring tone.

Owns everything between a call's 8 kHz line audio and a staff member's USB headset:

* ``Headset`` — the interface the call loop talks to (``play`` / ``read`` 8 kHz int16, never
  blocking the line's 20 ms loop);
* ``PyAudioHeadset`` — the real one: a PortAudio device found by name (a USB headset, or a
  stand-in ALSA device from ``appliance.virtual_audio``), one mono int16 input and one output
  stream at a rate the device supports, streaming resampling 8 kHz <-> device rate with
  ``soxr.ResampleStream``, bounded buffers so a slow or stalled device costs audio, not time;
* ``RingTone`` / ``ring_tone`` — the ring cadence played into a headset while a call rings it.

Faults come out as ``HeadsetError`` with a sentence a non-programmer can act on.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod

import numpy as np
import soxr

from appliance import pcm

LINE_RATE = pcm.LINE_RATE
PREFERRED_RATES = (48000, 16000, 8000)
FRAME_SECONDS = 0.02


class HeadsetError(Exception):
    """A headset is missing, cannot be opened or stopped working; ``str(e)`` says which and why."""


def _as_line_samples(samples, what: str) -> np.ndarray:
    """Validate int16-compatible mono audio; a clear ``ValueError`` otherwise."""
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be mono audio (a one-dimensional array of samples), "
                         f"got an array of shape {arr.shape}.")
    if arr.dtype == np.int16:
        return arr
    if arr.size == 0:
        return arr.astype(np.int16)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.min() < -32768 or arr.max() > 32767:
            raise ValueError(f"{what} must be 16-bit samples (-32768..32767); "
                             f"got values from {arr.min()} to {arr.max()}.")
        return arr.astype(np.int16)
    raise ValueError(f"{what} must be 16-bit integer samples, got {arr.dtype} data.")


class Headset(ABC):
    """A staff member's headset as the call loop sees it: 8 kHz int16 in and out."""

    name: str

    @abstractmethod
    def open(self) -> None:
        """Get the device ready; raises ``HeadsetError`` if it is missing or busy."""

    @abstractmethod
    def close(self) -> None:
        """Release the device. Safe to call twice and after a fault."""

    @abstractmethod
    def play(self, samples: np.ndarray) -> None:
        """Send int16 8 kHz samples to the earpiece. Never blocks for more than a frame or two."""

    @abstractmethod
    def read(self, n: int = pcm.FRAME_SAMPLES) -> np.ndarray:
        """Exactly ``n`` int16 8 kHz microphone samples; zeros where the device has none yet."""

    def __enter__(self) -> "Headset":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Device discovery
# --------------------------------------------------------------------------------------------

def list_devices(pa) -> list[dict]:
    """PortAudio devices that can serve as a headset (both a microphone and an earpiece).

    Each entry: ``index``, ``name``, ``inputs``, ``outputs``, ``default_rate``.
    """
    found = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        if info.get("maxInputChannels", 0) >= 1 and info.get("maxOutputChannels", 0) >= 1:
            found.append({"index": i, "name": info["name"],
                          "inputs": int(info["maxInputChannels"]),
                          "outputs": int(info["maxOutputChannels"]),
                          "default_rate": float(info["defaultSampleRate"])})
    return found


def find_device(pa, device: str) -> dict | None:
    """The headset-capable device whose name equals ``device``, else the first containing it."""
    devices = list_devices(pa)
    for d in devices:
        if d["name"] == device:
            return d
    wanted = device.lower()
    for d in devices:
        if wanted in d["name"].lower():
            return d
    return None


# --------------------------------------------------------------------------------------------
# The PortAudio headset
# --------------------------------------------------------------------------------------------

class PyAudioHeadset(Headset):
    """A headset on a PortAudio device found by (part of) its name.

    ``pa`` is a shared ``pyaudio.PyAudio``; without it the headset creates its own on ``open``
    and terminates it on ``close``. PortAudio scans devices only when the first ``PyAudio`` of
    the process is created, so a headset plugged in later is seen once every instance has been
    terminated and a new one created.

    ``rates`` are tried in order (then the device's default rate); ``max_latency`` bounds the
    audio held in each direction: older audio is dropped rather than letting delay build up.
    """

    def __init__(self, name: str, device: str, *, pa=None,
                 rates: tuple[int, ...] = PREFERRED_RATES, max_latency: float = 0.2):
        if not device or not isinstance(device, str):
            raise HeadsetError(f"Headset {name!r} has no audio device name configured.")
        self.name = name
        self.device = device
        self._shared_pa = pa
        self._pa = None
        self._rates = tuple(rates)
        self._max_latency = max_latency
        self._lock = threading.RLock()
        self._in = None
        self._out = None
        self._up = None
        self._down = None
        self._mic = np.zeros(0, dtype=np.int16)       # resampled 8 kHz microphone audio not read yet
        self._ear = np.zeros(0, dtype=np.int16)       # device-rate earpiece audio not written yet
        self.device_name: str | None = None           # the PortAudio device actually used
        self.rate: int | None = None                  # the device rate in use
        self.dropped_samples = 0                      # earpiece samples dropped (device too slow)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._in is not None

    def _describe(self) -> str:
        return f"Headset '{self.name}' (device '{self.device}')"

    def open(self) -> None:
        import pyaudio

        with self._lock:
            if self.is_open:
                return
            if self._shared_pa is None:
                self._pa = pyaudio.PyAudio()
            pa = self._shared_pa or self._pa
            try:
                info = find_device(pa, self.device)
                if info is None:
                    raise HeadsetError(f"{self._describe()} is not connected")
                rate = self._pick_rate(pa, info)
                frames = max(1, int(rate * FRAME_SECONDS))
                try:
                    self._in = pa.open(rate=rate, channels=1, format=pyaudio.paInt16, input=True,
                                       input_device_index=info["index"],
                                       frames_per_buffer=frames)
                    self._out = pa.open(rate=rate, channels=1, format=pyaudio.paInt16,
                                        output=True, output_device_index=info["index"],
                                        frames_per_buffer=frames)
                except OSError as exc:
                    raise HeadsetError(
                        f"{self._describe()} could not be opened: {_pa_reason(exc)}. "
                        f"Is another program using it?") from exc
                self.rate = rate
                self.device_name = info["name"]
                # vr=True: soxr's steady-output mode (one output block per input block, about
                # 20 ms delay); the fixed-ratio modes emit in bursts of 100+ ms.
                self._up = soxr.ResampleStream(LINE_RATE, rate, 1, dtype="int16", vr=True)
                self._down = soxr.ResampleStream(rate, LINE_RATE, 1, dtype="int16", vr=True)
                self._mic = np.zeros(0, dtype=np.int16)
                self._ear = np.zeros(0, dtype=np.int16)
            except BaseException:
                self._release()
                raise

    def _pick_rate(self, pa, info) -> int:
        candidates = list(self._rates)
        default = int(info["default_rate"])
        if default not in candidates:
            candidates.append(default)
        for rate in candidates:
            try:
                if (pa.is_format_supported(rate, input_device=info["index"], input_channels=1,
                                           input_format=_pa_int16())
                        and pa.is_format_supported(rate, output_device=info["index"],
                                                   output_channels=1,
                                                   output_format=_pa_int16())):
                    return rate
            except ValueError:
                continue
        raise HeadsetError(f"{self._describe()} supports none of the sample rates Callbox can use "
                           f"({', '.join(str(r) for r in candidates)} Hz, mono 16-bit).")

    def _release(self) -> None:
        for stream in (self._in, self._out):
            if stream is None:
                continue
            try:
                stream.stop_stream()
            except (OSError, ValueError):
                pass
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        self._in = self._out = None
        self._up = self._down = None
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None

    def close(self) -> None:
        with self._lock:
            if self._out is not None and len(self._ear):
                try:
                    avail = _available(self._out.get_write_available())
                    if avail:
                        self._out.write(self._ear[:avail].tobytes(), avail)
                except OSError:
                    pass
            self._ear = np.zeros(0, dtype=np.int16)
            self._release()

    def _gone(self, exc: OSError, doing: str) -> HeadsetError:
        """The device failed under us (typically unplugged): release it, describe it."""
        self._release()
        return HeadsetError(f"{self._describe()} stopped working while {doing} — it may have "
                            f"been unplugged ({_pa_reason(exc)}). Plug it back in and set the "
                            f"staff member available again.")

    def _need_open(self) -> None:
        if not self.is_open:
            raise HeadsetError(f"{self._describe()} is not open")

    # -- audio -------------------------------------------------------------------------------
    def play(self, samples: np.ndarray) -> None:
        samples = _as_line_samples(samples, f"Audio for headset '{self.name}'")
        with self._lock:
            self._need_open()
            try:
                if len(samples):
                    self._ear = np.concatenate([self._ear, self._up.resample_chunk(samples)])
                limit = int(self._max_latency * self.rate)
                if len(self._ear) > limit:
                    drop = len(self._ear) - limit
                    self.dropped_samples += drop
                    self._ear = self._ear[drop:]
                avail = _available(self._out.get_write_available())
                n = min(avail, len(self._ear))
                if n:
                    self._out.write(self._ear[:n].tobytes(), n)
                    self._ear = self._ear[n:]
            except OSError as exc:
                raise self._gone(exc, "playing to it") from exc

    def read(self, n: int = pcm.FRAME_SAMPLES) -> np.ndarray:
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"The number of samples to read must be a whole number >= 0, got {n!r}.")
        with self._lock:
            self._need_open()
            try:
                self._fill_mic(int(n))
            except OSError as exc:
                raise self._gone(exc, "listening to it") from exc
            out = self._mic[:n]
            self._mic = self._mic[n:]
        if len(out) < n:
            out = np.concatenate([out, np.zeros(n - len(out), dtype=np.int16)])
        return out

    def _fill_mic(self, n: int) -> None:
        """Pull what the device has (without waiting) until ``n`` 8 kHz samples are buffered."""
        ratio = self.rate / LINE_RATE
        limit = int(self._max_latency * self.rate)
        for _ in range(8):  # the resampler may hold back a little on the first reads
            missing = n - len(self._mic)
            if missing <= 0:
                return
            avail = _available(self._in.get_read_available())
            if avail == 0:
                return
            want = math.ceil(missing * ratio)
            if avail > want + limit:
                # The device has run ahead of the line (no reads between calls, clock drift):
                # skip the stale audio so the staff member's voice is not delayed.
                stale = avail - want
                self._in.read(stale, exception_on_overflow=False)
                avail = want
            take = min(avail, want)
            data = self._in.read(take, exception_on_overflow=False)
            got = np.frombuffer(data, dtype=np.int16)
            self._mic = np.concatenate([self._mic, self._down.resample_chunk(got)])


def _available(result: int) -> int:
    """``get_*_available`` result; PortAudio reports a failed device as a negative error code
    rather than raising (seen when the sound server or USB device disappears)."""
    if result < 0:
        raise OSError(result, f"the device reported error {result}")
    return result


def _pa_int16():
    import pyaudio

    return pyaudio.paInt16


def _pa_reason(exc: OSError) -> str:
    """PortAudio's own words for an error (pyaudio puts them in ``args``)."""
    for arg in exc.args:
        if isinstance(arg, str) and arg:
            return arg
    return str(exc) or exc.__class__.__name__


# --------------------------------------------------------------------------------------------
# Ring tone
# --------------------------------------------------------------------------------------------

UK_RING = ((400.0, 450.0), (0.4, 0.2, 0.4, 2.0))  # BT: 400+450 Hz, 0.4 on 0.2 off 0.4 on 2 off
US_RING = ((440.0, 480.0), (2.0, 4.0))            # North America: 440+480 Hz, 2 on 4 off
RAMP_SECONDS = 0.004                               # soft edges: no clicks at each burst


def ring_tone(offset: int, n: int, freqs: tuple[float, ...] = UK_RING[0],
              cadence: tuple[float, ...] = UK_RING[1], amplitude: float = 0.25,
              rate: int = LINE_RATE) -> np.ndarray:
    """``n`` int16 samples of ring tone starting ``offset`` samples into the ring.

    ``cadence`` alternates on and off durations in seconds, starting with on, and repeats.
    """
    if not cadence or len(cadence) % 2 or any(c < 0 for c in cadence) or sum(cadence) <= 0:
        raise ValueError("A ring cadence is pairs of on/off durations in seconds, "
                         f"for example (0.4, 0.2, 0.4, 2.0); got {cadence!r}.")
    edges = np.round(np.cumsum((0.0,) + tuple(cadence)) * rate).astype(np.int64)
    period = int(edges[-1])
    pos = (np.arange(n, dtype=np.int64) + offset) % period
    envelope = np.zeros(n, dtype=np.float64)
    ramp = max(1.0, RAMP_SECONDS * rate)
    for k in range(0, len(cadence), 2):
        start, stop = edges[k], edges[k + 1]
        inside = (pos >= start) & (pos < stop)
        if not inside.any():
            continue
        p = pos[inside]
        envelope[inside] = np.minimum(1.0, np.minimum(p - start + 1, stop - p) / ramp)
    wave = pcm.tone(tuple(freqs), n / rate, rate, amplitude=1.0, start_sample=offset)
    wave = wave[:n].astype(np.float64) / 32767.0
    if len(wave) < n:
        wave = np.concatenate([wave, np.zeros(n - len(wave))])
    return np.round(wave * envelope * amplitude * 32767).astype(np.int16)


class RingTone:
    """Successive 20 ms frames of a ring cadence (UK style by default), seamless across frames."""

    def __init__(self, freqs: tuple[float, ...] = UK_RING[0],
                 cadence: tuple[float, ...] = UK_RING[1], amplitude: float = 0.25,
                 rate: int = LINE_RATE):
        ring_tone(0, 0, freqs, cadence, amplitude, rate)  # validate now, not mid-call
        self.freqs = tuple(freqs)
        self.cadence = tuple(cadence)
        self.amplitude = amplitude
        self.rate = rate
        self.position = 0  # samples produced so far

    def next_frame(self, n: int = pcm.FRAME_SAMPLES) -> np.ndarray:
        frame = ring_tone(self.position, n, self.freqs, self.cadence, self.amplitude, self.rate)
        self.position += n
        return frame
