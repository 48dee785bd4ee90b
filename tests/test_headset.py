"""Headsets through real PortAudio (pyaudio) on stand-in ALSA devices, and the ring tone.

The unclocked stand-ins (ALSA ``file`` plugin, ``write_asoundrc``) prove the sample plumbing;
the clocked PipeWire session proves the call loop is never stalled and that a vanished device
becomes a ``HeadsetError``. Assertions are on frequencies and energy, not bit-exact samples.
"""

from __future__ import annotations

import shutil
import statistics
import threading
import time

import numpy as np
import pytest

from appliance import pcm
from appliance.headset import (UK_RING, US_RING, HeadsetError, PyAudioHeadset, RingTone,
                               find_device, list_devices, ring_tone)
from appliance.pcm import level_at, tone
from appliance.virtual_audio import (VirtualAudioError, earpiece_samples, mic_path,
                                     write_asoundrc)

pyaudio = pytest.importorskip("pyaudio")

STAND_IN_RATE = 16000
MIC_HZ = {"headset1": 1000.0, "headset2": 1300.0, "headset12": 1700.0}


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------

@pytest.fixture
def stand_in_home(tmp_path, monkeypatch):
    """A HOME with stand-in headsets; PortAudio reads it when the first PyAudio is created."""
    home = tmp_path / "home"
    write_asoundrc(home, MIC_HZ, rate=STAND_IN_RATE, mic_seconds=20)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def pa(stand_in_home):
    audio = pyaudio.PyAudio()
    names = {d["name"] for d in list_devices(audio)}
    if not set(MIC_HZ) <= names:
        audio.terminate()
        pytest.fail("PortAudio did not pick up the stand-in devices; another PyAudio instance "
                    f"in this process is probably still alive (devices seen: {sorted(names)})")
    yield audio
    audio.terminate()


@pytest.fixture
def opened():
    """Open headsets through this; they are closed when the test ends, whatever happens."""
    headsets: list[PyAudioHeadset] = []

    def open_headset(*args, **kwargs) -> PyAudioHeadset:
        h = PyAudioHeadset(*args, **kwargs)
        headsets.append(h)
        h.open()
        return h

    yield open_headset
    for h in headsets:
        h.close()


def run_call(headset: PyAudioHeadset, play_hz: float | None, frames: int) -> np.ndarray:
    """The line loop's pattern: play one 20 ms frame, read one; returns what the mic gave."""
    got = []
    for k in range(frames):
        if play_hz is not None:
            headset.play(tone(play_hz, pcm.FRAME_SECONDS, start_sample=k * pcm.FRAME_SAMPLES))
        got.append(headset.read(pcm.FRAME_SAMPLES))
    return np.concatenate(got) if got else np.zeros(0, dtype=np.int16)


# --------------------------------------------------------------------------------------------
# stand-in devices (write_asoundrc)
# --------------------------------------------------------------------------------------------

def test_stand_in_devices_are_listed_by_name_with_both_directions(pa):
    devices = {d["name"]: d for d in list_devices(pa)}
    for name in MIC_HZ:
        assert devices[name]["inputs"] >= 1 and devices[name]["outputs"] >= 1


def test_stand_in_microphone_file_is_a_steady_tone_at_the_device_rate(stand_in_home):
    raw = np.fromfile(mic_path(stand_in_home, "headset2"), dtype="<i2")
    assert len(raw) == 20 * STAND_IN_RATE
    # the same strong tone at the start and at the end: no stale or silent tail
    for part in (raw[:4000], raw[-4000:]):
        assert level_at(part, 1300, STAND_IN_RATE) > 0.25
        assert level_at(part, 1000, STAND_IN_RATE) < 0.01


def test_write_asoundrc_rejects_bad_names_and_tones_clearly(tmp_path):
    with pytest.raises(VirtualAudioError, match="letter followed by"):
        write_asoundrc(tmp_path, {"head set": 1000.0})
    with pytest.raises(VirtualAudioError, match="between 0 and 4000 Hz"):
        write_asoundrc(tmp_path, {"headset1": 5000.0}, rate=8000)
    with pytest.raises(VirtualAudioError, match="frequency in Hz"):
        write_asoundrc(tmp_path, {"headset1": "loud"})
    assert not (tmp_path / ".asoundrc").exists()  # nothing half-written


def test_write_asoundrc_leaves_a_foreign_asoundrc_untouched(tmp_path):
    mine = "pcm.!default { type hw card 1 }\n"
    (tmp_path / ".asoundrc").write_text(mine)
    with pytest.raises(VirtualAudioError, match="not written by Callbox"):
        write_asoundrc(tmp_path, {"headset1": 1000.0})
    assert (tmp_path / ".asoundrc").read_text() == mine


def test_write_asoundrc_can_be_rewritten_by_callbox(tmp_path):
    write_asoundrc(tmp_path, {"headset1": 1000.0}, mic_seconds=1)
    write_asoundrc(tmp_path, {"headset1": 1500.0, "headset2": 0}, mic_seconds=1)
    text = (tmp_path / ".asoundrc").read_text()
    assert "pcm.headset2" in text
    silent = np.fromfile(mic_path(tmp_path, "headset2"), dtype="<i2")
    assert len(silent) == 48000 and not silent.any()


# --------------------------------------------------------------------------------------------
# PyAudioHeadset on the stand-ins
# --------------------------------------------------------------------------------------------

def test_microphone_tone_arrives_at_8khz(pa, opened):
    h = opened("alice", "headset1", pa=pa)
    assert h.rate == 48000 and h.device_name == "headset1"
    got = run_call(h, None, 50)
    assert len(got) == 50 * pcm.FRAME_SAMPLES and got.dtype == np.int16
    steady = got[800:]
    assert level_at(steady, 1000) > 0.25
    assert level_at(steady, 1300) < 0.01


def test_every_read_returns_exactly_the_samples_asked_for(pa, opened):
    h = opened("alice", "headset1", pa=pa)
    for n in (160, 1, 0, 333, 1600):
        out = h.read(n)
        assert len(out) == n and out.dtype == np.int16


def test_played_tone_lands_in_the_earpiece_at_the_device_rate(pa, opened, stand_in_home):
    h = opened("bob", "headset2", pa=pa)
    run_call(h, 600.0, 100)  # 2 s
    h.close()
    heard = earpiece_samples(stand_in_home, "headset2")
    assert abs(len(heard) - 2 * STAND_IN_RATE) < 0.1 * STAND_IN_RATE
    steady = heard[STAND_IN_RATE // 4:]
    assert level_at(steady, 600, STAND_IN_RATE) > 0.25
    assert level_at(steady, 1300, STAND_IN_RATE) < 0.01
    at_line_rate = earpiece_samples(stand_in_home, "headset2", 8000)
    assert level_at(at_line_rate[2000:], 600) > 0.25


def test_two_headsets_at_once_keep_their_own_audio(pa, opened, stand_in_home):
    a = opened("alice", "headset1", pa=pa)
    b = opened("bob", "headset2", pa=pa)
    mics: dict[str, np.ndarray] = {}
    start = threading.Barrier(2)

    def line(name, headset, hz):  # each phone line runs its own thread
        start.wait(timeout=10)
        mics[name] = run_call(headset, hz, 75)

    threads = [threading.Thread(target=line, args=("a", a, 600.0)),
               threading.Thread(target=line, args=("b", b, 900.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    a.close()
    b.close()
    assert level_at(mics["a"][800:], 1000) > 0.25 and level_at(mics["a"][800:], 1300) < 0.01
    assert level_at(mics["b"][800:], 1300) > 0.25 and level_at(mics["b"][800:], 1000) < 0.01
    ear_a = earpiece_samples(stand_in_home, "headset1")[4000:]
    ear_b = earpiece_samples(stand_in_home, "headset2")[4000:]
    assert level_at(ear_a, 600, STAND_IN_RATE) > 0.25 and level_at(ear_a, 900, STAND_IN_RATE) < 0.01
    assert level_at(ear_b, 900, STAND_IN_RATE) > 0.25 and level_at(ear_b, 600, STAND_IN_RATE) < 0.01


def test_exact_name_wins_over_a_longer_name_containing_it(pa, opened):
    assert find_device(pa, "headset1")["name"] == "headset1"
    assert find_device(pa, "HEADSET12")["name"] == "headset12"  # partial, case-insensitive
    h = opened("alice", "headset1", pa=pa)
    got = run_call(h, None, 30)
    assert level_at(got[800:], 1000) > 0.25 and level_at(got[800:], 1700) < 0.01


def test_device_found_by_part_of_its_name(pa, opened):
    h = opened("carol", "set12", pa=pa)
    assert h.device_name == "headset12"
    assert level_at(run_call(h, None, 30)[800:], 1700) > 0.25


def test_unusual_device_rate_is_resampled_too(pa, opened):
    h = opened("alice", "headset1", pa=pa, rates=(22050,))
    assert h.rate == 22050
    assert level_at(run_call(h, 600.0, 40)[800:], 1000) > 0.25


def test_unsupported_rates_fall_back_to_the_device_default(pa, opened):
    h = opened("alice", "headset1", pa=pa, rates=(10_000_000,))
    assert h.rate == STAND_IN_RATE  # PortAudio's default rate of the stand-in PCM
    assert level_at(run_call(h, None, 30)[800:], 1000) > 0.25


def test_missing_headset_says_it_is_not_connected(pa):
    h = PyAudioHeadset("headset3", "headset3", pa=pa)
    with pytest.raises(HeadsetError) as err:
        h.open()
    assert str(err.value) == "Headset 'headset3' (device 'headset3') is not connected"
    assert not h.is_open
    with pytest.raises(HeadsetError, match="is not open"):
        h.read()


def test_headset_with_its_own_pyaudio_opens_and_releases_it(stand_in_home):
    h = PyAudioHeadset("alice", "headset1")
    try:
        h.open()
        assert level_at(run_call(h, 600.0, 30)[800:], 1000) > 0.25
    finally:
        h.close()
    assert not h.is_open and h._pa is None
    missing = PyAudioHeadset("dave", "no-such-headset")
    with pytest.raises(HeadsetError, match="is not connected"):
        missing.open()
    assert missing._pa is None  # the failed open terminated the PyAudio it created


def test_bad_audio_is_refused_clearly_and_the_headset_keeps_working(pa, opened):
    h = opened("alice", "headset1", pa=pa)
    with pytest.raises(ValueError, match="mono"):
        h.play(np.zeros((160, 2), dtype=np.int16))
    with pytest.raises(ValueError, match="16-bit integer"):
        h.play(np.zeros(160, dtype=np.float32))
    with pytest.raises(ValueError, match="-32768..32767"):
        h.play(np.full(160, 40000, dtype=np.int32))
    with pytest.raises(ValueError, match="whole number"):
        h.read(-1)
    assert level_at(run_call(h, 600.0, 30)[800:], 1000) > 0.25


def test_play_never_holds_more_than_the_latency_bound(pa, opened, stand_in_home):
    h = opened("bob", "headset2", pa=pa, max_latency=0.2)
    h.play(tone(600, 1.0))  # one second in one go: far more than the bound
    assert h.dropped_samples >= int(0.7 * 48000)
    h.close()
    heard = earpiece_samples(stand_in_home, "headset2")
    assert len(heard) <= 0.25 * STAND_IN_RATE


def test_close_is_idempotent_and_reopen_works(pa, opened):
    h = opened("alice", "headset1", pa=pa)
    h.close()
    h.close()
    h.open()
    assert level_at(run_call(h, None, 30)[800:], 1000) > 0.25


# --------------------------------------------------------------------------------------------
# clocked: a private PipeWire session
# --------------------------------------------------------------------------------------------

needs_pipewire = pytest.mark.skipif(
    any(shutil.which(b) is None for b in ("pipewire", "wireplumber", "dbus-daemon", "pw-cat")),
    reason="PipeWire is not installed")


@pytest.fixture
def pipewire(tmp_path):
    from appliance.virtual_audio import PipeWireSession

    session = PipeWireSession(tmp_path / "pw", ["headset1", "headset2"])
    session.start()
    session.apply_env()
    audio = pyaudio.PyAudio()
    yield session, audio
    audio.terminate()
    session.stop()


def paced_call(headset, play_hz, frames, timings):
    """Like the line loop: one frame every 20 ms of real time."""
    got = []
    start = time.monotonic()
    for k in range(frames):
        t = time.perf_counter()
        headset.play(tone(play_hz, pcm.FRAME_SECONDS, start_sample=k * pcm.FRAME_SAMPLES))
        got.append(headset.read(pcm.FRAME_SAMPLES))
        timings.append(time.perf_counter() - t)
        delay = start + (k + 1) * pcm.FRAME_SECONDS - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing to real time, as the modem's audio clock would
    return np.concatenate(got)


@needs_pipewire
def test_clocked_headsets_never_stall_the_line_loop(pipewire, opened):
    session, audio = pipewire
    a = opened("alice", "headset1", pa=audio)
    b = opened("bob", "headset2", pa=audio)
    taps = {n: session.record_earpiece(n) for n in ("headset1", "headset2")}
    session.play_into_mic("headset1", tone(1000, 3.0, 48000))
    session.play_into_mic("headset2", tone(1300, 3.0, 48000))
    timings_a: list[float] = []
    timings_b: list[float] = []
    results = {}
    threads = [threading.Thread(target=lambda: results.setdefault(
                   "a", paced_call(a, 600.0, 75, timings_a))),
               threading.Thread(target=lambda: results.setdefault(
                   "b", paced_call(b, 900.0, 75, timings_b)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    a.close()
    b.close()
    # A blocking read would cost a whole 20 ms frame every time; these return at once (the
    # bounds leave room for a busy 2-core CI machine).
    for timings in (timings_a, timings_b):
        assert statistics.median(timings) < 0.005
        assert sorted(timings)[int(0.9 * len(timings))] < 0.015
    # Clocked audio on 2 cores has small gaps now and then: judge by frequency, not level.
    tail_a, tail_b = results["a"][-4000:], results["b"][-4000:]
    assert level_at(tail_a, 1000) > 0.1 and level_at(tail_a, 1300) < 0.02
    assert level_at(tail_b, 1300) > 0.1 and level_at(tail_b, 1000) < 0.02
    ear_a, ear_b = taps["headset1"].stop(), taps["headset2"].stop()
    assert len(ear_a) > 48000
    assert level_at(ear_a[-48000:], 600, 48000) > 0.1 and level_at(ear_a[-48000:], 900, 48000) < 0.02
    assert level_at(ear_b[-48000:], 900, 48000) > 0.1 and level_at(ear_b[-48000:], 600, 48000) < 0.02


@needs_pipewire
def test_headset_vanishing_mid_call_is_a_headset_error_not_a_crash(pipewire, opened):
    session, audio = pipewire
    h = opened("alice", "headset1", pa=audio)
    paced_call(h, 600.0, 10, [])
    session.unplug_all()
    with pytest.raises(HeadsetError) as err:
        for _ in range(50):  # the failure shows on the next call into the device
            h.play(tone(600, pcm.FRAME_SECONDS))
            h.read()
    message = str(err.value)
    assert message.startswith("Headset 'alice' (device 'headset1') stopped working")
    assert "unplugged" in message
    assert not h.is_open
    with pytest.raises(HeadsetError, match="is not open"):
        h.play(tone(600, pcm.FRAME_SECONDS))
    h.close()  # still safe


# --------------------------------------------------------------------------------------------
# ring tone
# --------------------------------------------------------------------------------------------

def _segments(samples: np.ndarray, cadence, rate=8000):
    edges = np.round(np.cumsum((0.0,) + tuple(cadence)) * rate).astype(int)
    return [samples[edges[i]:edges[i + 1]] for i in range(len(cadence))]


def test_uk_ring_cadence_and_frequencies():
    ring = RingTone()
    period = int(sum(UK_RING[1]) * 8000)
    samples = np.concatenate([ring.next_frame() for _ in range(2 * period // 160)])
    for cycle in (samples[:period], samples[period:]):
        on1, off1, on2, off2 = _segments(cycle, UK_RING[1])
        for on in (on1, on2):
            core = on[64:-64]  # away from the soft edges
            assert level_at(core, 400) > 0.1 and level_at(core, 450) > 0.1
            assert level_at(core, 1000) < 0.005
        for off in (off1, off2):
            assert not off[64:-64].any()


def test_ring_frames_join_seamlessly():
    ring = RingTone()
    framed = np.concatenate([ring.next_frame(160) for _ in range(200)])
    whole = ring_tone(0, 200 * 160)
    assert np.array_equal(framed, whole)
    assert ring.position == 200 * 160


def test_ring_edges_are_soft():
    samples = ring_tone(0, 3200)  # first burst starts at sample 0
    assert abs(int(samples[0])) < 2000
    assert np.abs(np.diff(samples.astype(np.int32))).max() < 6000


def test_us_ring_cadence():
    ring = RingTone(*US_RING)
    samples = np.concatenate([ring.next_frame() for _ in range(300)])  # 6 s = one period
    on, off = _segments(samples, US_RING[1])
    assert level_at(on[64:-64], 440) > 0.1 and level_at(on[64:-64], 480) > 0.1
    assert not off[64:-64].any()


def test_bad_cadence_is_refused_before_any_call():
    with pytest.raises(ValueError, match="pairs of on/off"):
        RingTone(cadence=(0.4, 0.2, 0.4))
    with pytest.raises(ValueError, match="pairs of on/off"):
        RingTone(cadence=(0.4, -0.2))
