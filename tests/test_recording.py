"""Call recordings: real WAV files, a real crash (SIGKILL), real full disks.

A full disk is exercised three ways: ``/dev/full`` (nothing can be written), a tiny tmpfs
(true ENOSPC part-way through; needs root to mount) and a file-size limit in a child process
(EFBIG part-way through; works for any user).
"""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest

from appliance import pcm
from appliance.pcm import level_at, tone
from appliance.recording import CallRecorder, RecordingError, recover

REPO = Path(__file__).resolve().parents[1]
CALLER_HZ = 500.0
STAFF_HZ = 1200.0


def frames_of(seconds: float, start: int = 0):
    """(caller, staff) 20 ms frame pairs, phase-continuous from sample ``start``."""
    n = int(round(seconds * 8000)) // pcm.FRAME_SAMPLES
    for k in range(n):
        s = start + k * pcm.FRAME_SAMPLES
        yield (tone(CALLER_HZ, pcm.FRAME_SECONDS, start_sample=s),
               tone(STAFF_HZ, pcm.FRAME_SECONDS, start_sample=s))


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        data = np.frombuffer(w.readframes(params.nframes), dtype="<i2")
    return params, data[0::2], data[1::2]


def header_frames(path: Path) -> int:
    """Frames the on-disk header promises, read through a separate file handle."""
    with open(path, "rb") as f:
        head = f.read(44)
    riff, data = struct.unpack("<I", head[4:8])[0], struct.unpack("<I", head[40:44])[0]
    assert riff == 36 + data
    return data // 4


def assert_caller_left_staff_right(left: np.ndarray, right: np.ndarray) -> None:
    assert level_at(left, CALLER_HZ) > 0.25 and level_at(left, STAFF_HZ) < 0.01
    assert level_at(right, STAFF_HZ) > 0.25 and level_at(right, CALLER_HZ) < 0.01


# --------------------------------------------------------------------------------------------

def test_recording_is_stereo_8khz_caller_left_staff_right(tmp_path):
    path = tmp_path / "2026-11-24" / "call-1.wav"  # folder created on demand
    rec = CallRecorder(path)
    for caller, staff in frames_of(3.0):
        rec.write(caller, staff)
    assert rec.seconds == pytest.approx(3.0)
    rec.close()
    rec.close()  # twice is fine
    params, left, right = read_wav(path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 8000)
    assert params.nframes == 24000
    assert path.stat().st_size == 44 + 24000 * 4
    assert_caller_left_staff_right(left, right)


def test_missing_staff_side_records_silence_and_short_sides_are_padded(tmp_path):
    path = tmp_path / "call.wav"
    with CallRecorder(path) as rec:
        rec.write(tone(CALLER_HZ, 0.5), None)            # nobody answered yet
        rec.write(tone(CALLER_HZ, 0.02), tone(STAFF_HZ, 0.01))  # staff side came short
    params, left, right = read_wav(path)
    assert params.nframes == 4000 + 160
    assert not right[:4000].any()
    assert right[4000:4080].any() and not right[4080:].any()
    assert level_at(left, CALLER_HZ) > 0.25


def test_bad_audio_is_refused_clearly_and_nothing_recorded_is_lost(tmp_path):
    path = tmp_path / "call.wav"
    rec = CallRecorder(path)
    rec.write(*next(frames_of(0.02)))
    with pytest.raises(ValueError, match="caller audio must be mono"):
        rec.write(np.zeros((160, 2), dtype=np.int16), None)
    with pytest.raises(ValueError, match="staff audio must be 16-bit integer"):
        rec.write(pcm.silence(), np.zeros(160, dtype=np.float64))
    with pytest.raises(ValueError, match="-32768..32767"):
        rec.write(np.full(160, 70000), None)
    for caller, staff in frames_of(1.0, start=160):
        rec.write(caller, staff)
    rec.close()
    params, left, right = read_wav(path)
    assert params.nframes == 160 + 8000
    assert_caller_left_staff_right(left, right)


def test_an_existing_recording_is_never_overwritten(tmp_path):
    path = tmp_path / "call.wav"
    path.write_bytes(b"precious")
    with pytest.raises(RecordingError, match="already exists; it was left untouched"):
        CallRecorder(path)
    assert path.read_bytes() == b"precious"


def test_writing_after_close_is_a_clear_error(tmp_path):
    rec = CallRecorder(tmp_path / "call.wav")
    rec.close()
    with pytest.raises(RecordingError, match="already closed"):
        rec.write(pcm.silence(), pcm.silence())


# -- durability -------------------------------------------------------------------------------

def test_header_on_disk_never_lags_more_than_a_second_of_audio(tmp_path):
    path = tmp_path / "call.wav"
    frozen = lambda: 1000.0  # noqa: E731 - time stands still: only the audio amount counts
    rec = CallRecorder(path, clock=frozen)
    written = 0
    for caller, staff in frames_of(3.5):
        rec.write(caller, staff)
        written += len(caller)
        on_disk = header_frames(path)
        assert written - 8000 <= on_disk <= written
    rec.close()
    assert header_frames(path) == written


def test_header_is_synced_after_a_second_of_wall_time_even_with_little_audio(tmp_path):
    path = tmp_path / "call.wav"
    now = [0.0]
    rec = CallRecorder(path, clock=lambda: now[0])
    rec.write(tone(CALLER_HZ, 0.1), None)
    assert header_frames(path) == 0  # not yet due
    now[0] += 1.0
    rec.write(tone(CALLER_HZ, 0.02), None)
    assert header_frames(path) == 960
    rec.close()


CRASH_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from appliance.recording import CallRecorder
    from tests.test_recording import frames_of
    rec = CallRecorder({path!r})
    for caller, staff in frames_of(3.5):
        rec.write(caller, staff)
    print("written", flush=True)
    sys.stdin.read()   # wait here until killed
""")


@pytest.fixture
def child_processes():
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def test_killed_mid_call_leaves_a_valid_wav_missing_at_most_a_second(tmp_path, child_processes):
    path = tmp_path / "call.wav"
    child = subprocess.Popen([sys.executable, "-c", CRASH_CHILD.format(repo=str(REPO),
                                                                       path=str(path))],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child_processes.append(child)
    assert child.stdout.readline().strip() == "written"
    child.send_signal(signal.SIGKILL)  # no close(), no flush, no atexit
    child.wait(timeout=10)

    params, left, right = read_wav(path)
    assert (params.nchannels, params.framerate) == (2, 8000)
    assert 2.5 * 8000 <= params.nframes <= 3.5 * 8000
    assert_caller_left_staff_right(left, right)

    # every frame reached the OS before the crash; recover() makes the header cover it all
    assert recover(path) == pytest.approx(3.5)
    params, left, right = read_wav(path)
    assert params.nframes == 28000
    assert_caller_left_staff_right(left[-8000:], right[-8000:])
    assert recover(path) == pytest.approx(3.5)  # a healthy file is left alone


def test_recover_refuses_a_file_that_is_not_a_recording(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_bytes(b"RIFF....WAVEjunk" + bytes(40))
    before = path.read_bytes()
    with pytest.raises(RecordingError, match="not a Callbox recording"):
        recover(path)
    assert path.read_bytes() == before


# -- full disk --------------------------------------------------------------------------------

def test_nothing_can_be_written_is_a_clear_error():
    with pytest.raises(RecordingError) as err:
        CallRecorder(Path("/dev/full"), overwrite=True)
    assert "the disk is full" in str(err.value)
    assert "nothing was recorded" in str(err.value)


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here (needs root): {r.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def _record_until_it_fails(rec: CallRecorder, seconds: float) -> RecordingError:
    for caller, staff in frames_of(seconds):
        try:
            rec.write(caller, staff)
        except RecordingError as exc:
            return exc
    raise AssertionError("the recording never hit the full disk")


def test_disk_filling_up_mid_call_keeps_what_was_written_valid(tiny_disk):
    path = tiny_disk / "call.wav"
    rec = CallRecorder(path)
    err = _record_until_it_fails(rec, 5.0)
    message = str(err)
    assert message.startswith("Recording call.wav stopped: the disk is full.")
    assert "seconds were saved" in message
    params, left, right = read_wav(path)
    assert params.nframes > 1.0 * 8000  # 64 KiB holds about two seconds
    assert path.stat().st_size == 44 + params.nframes * 4
    assert f"{params.nframes / 8000:.1f} seconds" in message
    assert_caller_left_staff_right(left, right)
    with pytest.raises(RecordingError, match="the disk is full"):
        rec.write(pcm.silence(), pcm.silence())
    rec.close()  # nothing more to do, no error


FSIZE_CHILD = textwrap.dedent("""
    import resource, signal, sys
    sys.path.insert(0, {repo!r})
    from appliance.recording import CallRecorder, RecordingError
    from tests.test_recording import frames_of
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    rec = CallRecorder({path!r})
    try:
        for caller, staff in frames_of(5.0):
            rec.write(caller, staff)
    except RecordingError as exc:
        print(exc)
    rec.close()
""")


def test_file_size_limit_mid_call_keeps_what_was_written_valid(tmp_path):
    path = tmp_path / "call.wav"
    limit = 50_002  # not a whole number of frames: the torn last frame must be dropped
    r = subprocess.run([sys.executable, "-c", FSIZE_CHILD.format(repo=str(REPO), path=str(path),
                                                                 limit=limit)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "stopped: the file has grown larger than this disk allows" in r.stdout
    params, left, right = read_wav(path)
    assert path.stat().st_size == 44 + params.nframes * 4 <= limit
    assert params.nframes >= (limit - 44) // 4 - 160
    assert_caller_left_staff_right(left, right)
