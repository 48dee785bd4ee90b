"""Call recordings: crash-safe stereo WAV files, caller on the left, staff on the right.

Owns the on-disk recording format and its durability promise. ``CallRecorder`` writes a
16-bit stereo WAV at 8 kHz. Every ``write`` goes straight to the operating system (a crash of
the Callbox process loses nothing that ``recover`` cannot put back), and at least once a second
the two RIFF size fields are rewritten and the file is ``fsync``-ed, so after a power cut the
file is a valid WAV missing at most the last second. A full disk or a failing card stops the
recording with a ``RecordingError`` that says what happened and how much was kept; what was
written before stays a valid WAV.
"""

from __future__ import annotations

import errno
import os
import struct
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

RATE = 8000
CHANNELS = 2
SAMPLE_BYTES = 2
FRAME_BYTES = CHANNELS * SAMPLE_BYTES
HEADER_BYTES = 44
RIFF_SIZE_OFFSET = 4
DATA_SIZE_OFFSET = 40
MAX_DATA_BYTES = 0xFFFFFFFF - 36 - 3  # the RIFF size field is 32 bits


class RecordingError(Exception):
    """A recording could not be started or continued; ``str(e)`` says why in plain words."""


def _header(data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, CHANNELS, RATE,
                                    RATE * FRAME_BYTES, FRAME_BYTES, SAMPLE_BYTES * 8)
            + b"data" + struct.pack("<I", data_bytes))


def _plain_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is used up"
    if exc.errno == errno.EFBIG:
        return "the file has grown larger than this disk allows"
    if exc.errno == errno.EIO:
        return "the disk reported a read/write error (failing SD card or unplugged drive?)"
    if exc.errno in (errno.EROFS,):
        return "the disk is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "Callbox is not allowed to write there"
    return exc.strerror or str(exc)


def _fsync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: this kind of file cannot be synced (a device)
            raise


def _mono(samples, side: str, n_hint: int | None) -> np.ndarray:
    if samples is None:
        return np.zeros(n_hint or 0, dtype=np.int16)
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise ValueError(f"The {side} audio must be mono (a one-dimensional array of samples), "
                         f"got an array of shape {arr.shape}.")
    if arr.dtype != np.int16:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"The {side} audio must be 16-bit integer samples, "
                             f"got {arr.dtype} data.")
        if arr.size and (arr.min() < -32768 or arr.max() > 32767):
            raise ValueError(f"The {side} audio must be 16-bit samples (-32768..32767), "
                             f"got values from {arr.min()} to {arr.max()}.")
        arr = arr.astype(np.int16)
    return arr


class CallRecorder:
    """Records one call to ``path``: stereo 16-bit 8 kHz WAV, caller left, staff right.

    Refuses to overwrite an existing file unless ``overwrite=True``. ``sync_interval`` (seconds)
    bounds how much a power cut can lose: the header and data are made durable whenever that
    much audio or that much time (``clock``) has passed since the last sync.
    After a ``RecordingError`` the recorder is closed and the file is a valid WAV of what was
    saved; further ``write`` calls raise ``RecordingError`` again.
    """

    def __init__(self, path: Path, *, overwrite: bool = False, sync_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.sync_interval = sync_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._data_bytes = 0          # audio bytes written to the file
        self._synced_bytes = 0        # audio bytes the on-disk header covers (and fsync-ed)
        self._failure: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(f"Cannot create the folder for recording {self.path}: "
                                 f"{_plain_reason(exc)}.") from exc
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            self._fd = os.open(self.path, flags, 0o640)
        except FileExistsError as exc:
            raise RecordingError(f"Recording {self.path} already exists; it was left untouched "
                                 f"and this call is not recorded over it.") from exc
        except OSError as exc:
            raise RecordingError(f"Cannot start recording {self.path}: "
                                 f"{_plain_reason(exc)}.") from exc
        try:
            self._pwrite_all(_header(0), 0)
            _fsync(self._fd)
            self._sync_directory()
        except (OSError, _PartialWrite) as problem:
            exc = problem.error if isinstance(problem, _PartialWrite) else problem
            os.close(self._fd)
            self._fd = None
            if not overwrite:  # we created it: leave no empty, unplayable file behind
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
            raise RecordingError(f"Cannot start recording {self.path}: {_plain_reason(exc)}; "
                                 f"nothing was recorded.") from problem
        self._last_sync = self._clock()

    def _sync_directory(self) -> None:
        """Make the new file's name itself survive a power cut."""
        try:
            dfd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            _fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    # -- state -----------------------------------------------------------------------------
    @property
    def seconds(self) -> float:
        """Audio recorded so far, in seconds."""
        return self._data_bytes / FRAME_BYTES / RATE

    @property
    def closed(self) -> bool:
        return self._fd is None

    # -- writing ---------------------------------------------------------------------------
    def write(self, caller: np.ndarray, staff: np.ndarray | None = None) -> None:
        """Append a stretch of call audio (int16 8 kHz each side; ``staff=None`` = silence).

        If one side is shorter it is padded with silence, so no audio is dropped.
        """
        left = _mono(caller, "caller", None)
        right = _mono(staff, "staff", len(left))
        n = max(len(left), len(right))
        if len(left) < n:
            left = np.concatenate([left, np.zeros(n - len(left), dtype=np.int16)])
        if len(right) < n:
            right = np.concatenate([right, np.zeros(n - len(right), dtype=np.int16)])
        frames = np.empty(2 * n, dtype="<i2")
        frames[0::2] = left
        frames[1::2] = right
        data = frames.tobytes()
        with self._lock:
            if self._fd is None:
                raise RecordingError(self._failure or
                                     f"Recording {self.path.name} is already closed.")
            if self._data_bytes + len(data) > MAX_DATA_BYTES:
                self._fail(f"Recording {self.path.name} stopped: it reached the longest length a "
                           f"WAV file can hold ({self.seconds / 3600:.1f} hours).")
            try:
                written = self._pwrite_all(data, HEADER_BYTES + self._data_bytes)
            except _PartialWrite as partial:
                self._data_bytes += partial.written - partial.written % FRAME_BYTES
                self._fail_from(partial.error)
            self._data_bytes += written
            now = self._clock()
            if (self._data_bytes - self._synced_bytes >= self.sync_interval * RATE * FRAME_BYTES
                    or now - self._last_sync >= self.sync_interval):
                try:
                    self._sync()
                except OSError as exc:
                    self._fail_from(exc)

    def flush(self) -> None:
        """Make everything written so far durable now (header sizes + fsync)."""
        with self._lock:
            if self._fd is None:
                return
            try:
                self._sync()
            except OSError as exc:
                self._fail_from(exc)

    def close(self) -> None:
        """Finalise the file. Safe to call twice; raises ``RecordingError`` if the last save failed."""
        with self._lock:
            if self._fd is None:
                return
            try:
                self._sync()
            except OSError as exc:
                self._fail_from(exc)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "CallRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------
    def _pwrite_all(self, data: bytes, offset: int) -> int:
        view = memoryview(data)
        done = 0
        while done < len(view):
            try:
                n = os.pwrite(self._fd, view[done:], offset + done)
            except OSError as exc:
                if done:
                    raise _PartialWrite(done, exc) from exc
                raise _PartialWrite(0, exc) from exc
            if n == 0:
                raise _PartialWrite(done, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
            done += n
        return done

    def _sync(self) -> None:
        if self._data_bytes != self._synced_bytes or self._data_bytes == 0:
            self._write_sizes(self._data_bytes)
        _fsync(self._fd)
        self._synced_bytes = self._data_bytes
        self._last_sync = self._clock()

    def _write_sizes(self, data_bytes: int) -> None:
        os.pwrite(self._fd, struct.pack("<I", 36 + data_bytes), RIFF_SIZE_OFFSET)
        os.pwrite(self._fd, struct.pack("<I", data_bytes), DATA_SIZE_OFFSET)

    def _fail_from(self, exc: OSError) -> None:
        self._fail(f"Recording {self.path.name} stopped: {_plain_reason(exc)}. "
                   f"The first {self.seconds:.1f} seconds were saved.")

    def _fail(self, message: str) -> None:
        """Keep what is on disk a valid WAV (sizes match whole frames), close, and raise."""
        fd = self._fd
        try:
            os.ftruncate(fd, HEADER_BYTES + self._data_bytes)  # drop a torn last frame
        except OSError:
            pass
        try:
            self._write_sizes(self._data_bytes)  # overwrites existing bytes: needs no new space
            _fsync(fd)
            self._synced_bytes = self._data_bytes
        except OSError:
            pass
        os.close(fd)
        self._fd = None
        self._failure = message
        raise RecordingError(message)


class _PartialWrite(Exception):
    def __init__(self, written: int, error: OSError):
        super().__init__(str(error))
        self.written = written
        self.error = error


def recover(path: Path) -> float:
    """Fix the header of a recording left behind by a crash so it covers every whole frame
    on disk; returns the recording's length in seconds. Leaves a well-formed file unchanged."""
    path = Path(path)
    try:
        with open(path, "r+b") as f:
            head = f.read(HEADER_BYTES)
            if (len(head) < HEADER_BYTES or head[:4] != b"RIFF" or head[8:12] != b"WAVE"
                    or head[36:40] != b"data"
                    or struct.unpack("<HHI", head[20:28]) != (1, CHANNELS, RATE)):
                raise RecordingError(f"{path.name} is not a Callbox recording, so it was not "
                                     f"changed.")
            size = os.fstat(f.fileno()).st_size
            data_bytes = min(size - HEADER_BYTES, MAX_DATA_BYTES)
            data_bytes -= data_bytes % FRAME_BYTES
            if struct.unpack("<I", head[40:44])[0] != data_bytes:
                f.seek(RIFF_SIZE_OFFSET)
                f.write(struct.pack("<I", 36 + data_bytes))
                f.seek(DATA_SIZE_OFFSET)
                f.write(struct.pack("<I", data_bytes))
                f.flush()
                _fsync(f.fileno())
    except OSError as exc:
        raise RecordingError(f"Cannot repair recording {path}: {_plain_reason(exc)}.") from exc
    return data_bytes / FRAME_BYTES / RATE
