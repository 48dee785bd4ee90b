"""Spoken prompts for callers: text synthesised once with espeak-ng, kept as 8 kHz WAV files.

``PromptCache(directory).get(text)`` returns the prompt as line audio (mono int16 at 8000 Hz,
``appliance.pcm``). The first request for a text runs ``espeak-ng`` (no shell; the text is one
argument), resamples its output with soxr and stores ``<sha1>.wav`` in the cache directory,
written to a temporary file and renamed into place so a power cut never leaves half a prompt.
Later requests read that file (a damaged one is synthesised again); a few recent prompts stay in
memory. Safe to use from several line threads at once.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import subprocess
import tempfile
import threading
import wave
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

import numpy as np
import soxr

from appliance import pcm

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 2000
SYNTH_TIMEOUT_S = 60.0
MISSING_SYNTH = ("The speech synthesiser espeak-ng is not installed; "
                 "run make demo / apt-get install espeak-ng.")


class PromptError(RuntimeError):
    """A prompt could not be made; ``str(e)`` says why in plain words."""


class PromptCache:
    def __init__(self, directory: Path | str, voice: str = "en", speed: int = 150, *,
                 memory_items: int = 16, program: str = "espeak-ng"):
        if not isinstance(speed, int) or not 80 <= speed <= 450:
            raise PromptError(f"The speaking speed should be a whole number of words per "
                              f"minute between 80 and 450 (got {speed!r}).")
        if not voice or not isinstance(voice, str) or voice.startswith("-"):
            raise PromptError(f"{voice!r} is not a voice name; use one such as 'en' or 'en-us'.")
        self.directory = Path(directory)
        self.voice = voice
        self.speed = speed
        self.program = program
        self.memory_items = memory_items
        self.synth_count = 0  # how many times espeak-ng has run (for tests and diagnostics)
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[str, threading.Lock] = {}  # one lock per prompt being made
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PromptError(f"The folder for spoken prompts, {self.directory}, cannot be "
                              f"created: {exc.strerror or exc}.") from None
        self._remove_leftovers()

    # -- public -------------------------------------------------------------------------
    def path_for(self, text: str) -> Path:
        """Where the prompt for ``text`` is (or will be) stored."""
        key = f"{self.voice}\n{self.speed}\n{text}".encode("utf-8")
        return self.directory / f"{hashlib.sha1(key).hexdigest()}.wav"

    def get(self, text: str) -> np.ndarray:
        """The prompt for ``text`` as read-only int16 samples at 8000 Hz."""
        text = self._check_text(text)
        path = self.path_for(text)
        with self._lock:
            samples = self._remember(path.name)
            if samples is not None:
                return samples
            making = self._making.setdefault(path.name, threading.Lock())
        try:
            with making:  # only one thread makes a given prompt; the others wait for it
                with self._lock:
                    samples = self._remember(path.name)
                if samples is None:
                    samples = self._read(path)
                    if samples is None:
                        samples = self._synthesise(text)
                        self._write(path, samples)
                    samples.flags.writeable = False
                    with self._lock:
                        self._memory[path.name] = samples
                        while len(self._memory) > self.memory_items:
                            self._memory.popitem(last=False)
        finally:
            with self._lock:
                self._making.pop(path.name, None)
        return samples

    def prewarm(self, texts: Iterable[str]) -> None:
        """Make every prompt in ``texts`` now, so callers never wait for synthesis."""
        for text in texts:
            self.get(text)

    # -- inside -------------------------------------------------------------------------
    def _check_text(self, text: str) -> str:
        if not isinstance(text, str):
            raise PromptError(f"A prompt must be text, not {type(text).__name__}.")
        text = " ".join(text.split())
        if not text:
            raise PromptError("A prompt has no words to speak; write the text callers should "
                              "hear.")
        if len(text) > MAX_TEXT_CHARS:
            raise PromptError(f"A prompt is too long ({len(text)} characters); keep it under "
                              f"{MAX_TEXT_CHARS}.")
        return text

    def _remember(self, name: str) -> np.ndarray | None:
        samples = self._memory.get(name)
        if samples is not None:
            self._memory.move_to_end(name)
        return samples

    def _remove_leftovers(self) -> None:
        """Temporary files of a write cut short (power cut) are never valid prompts."""
        for leftover in self.directory.glob("*.wav.tmp*"):
            try:
                leftover.unlink()
            except OSError:
                pass

    def _read(self, path: Path) -> np.ndarray | None:
        """The stored prompt, or None if missing or damaged (it will be made again)."""
        try:
            with wave.open(str(path), "rb") as w:
                shape = (w.getnchannels(), w.getsampwidth(), w.getframerate())
                frames = w.getnframes()
                data = w.readframes(frames)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (wave.Error, EOFError, OSError) as exc:
            log.warning("prompt file %s cannot be read (%s); making it again", path.name, exc)
            return None
        if shape != (1, 2, pcm.LINE_RATE) or frames == 0 or len(data) != frames * 2:
            log.warning("prompt file %s is damaged (format %s, %d of %d frames); making it "
                        "again", path.name, shape, len(data) // 2, frames)
            return None
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def _synthesise(self, text: str) -> np.ndarray:
        command = [self.program, "-v", self.voice, "-s", str(self.speed), "--stdout", "--", text]
        try:
            done = subprocess.run(command, capture_output=True, timeout=SYNTH_TIMEOUT_S,
                                  check=False)
        except FileNotFoundError:
            raise PromptError(MISSING_SYNTH) from None
        except subprocess.TimeoutExpired:
            raise PromptError(f"The speech synthesiser took longer than {SYNTH_TIMEOUT_S:g} "
                              f"seconds for the prompt {text[:40]!r}.") from None
        self.synth_count += 1
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
            if "voice does not exist" in detail:
                raise PromptError(f"The speech synthesiser has no voice called {self.voice!r}; "
                                  "choose another voice (espeak-ng --voices lists them).")
            raise PromptError(f"The speech synthesiser failed on the prompt {text[:40]!r}: "
                              f"{detail}")
        samples, rate = _parse_wav(done.stdout)
        if rate != pcm.LINE_RATE:
            samples = soxr.resample(samples, rate, pcm.LINE_RATE)
        if len(samples) == 0:
            raise PromptError(f"The speech synthesiser produced no sound for the prompt "
                              f"{text[:40]!r}.")
        return np.asarray(samples, dtype=np.int16)

    def _write(self, path: Path, samples: np.ndarray) -> None:
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=path.name + ".tmp")
            with os.fdopen(fd, "wb") as raw:
                with wave.open(raw, "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(pcm.LINE_RATE)
                    w.writeframes(samples.astype("<i2").tobytes())
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            # The caller still gets the prompt; only the copy on disk is missing.
            log.error("could not store prompt %s in %s: %s", path.name, self.directory, exc)
            return
        _sync_directory(self.directory)


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples and rate of espeak-ng's WAV output.

    When writing to a pipe espeak-ng cannot go back to fill in the sizes, so the header claims
    an enormous length; the samples are simply everything after the header.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise PromptError("The speech synthesiser produced audio in an unexpected "
                                  f"format ({w.getnchannels()} channels, "
                                  f"{w.getsampwidth() * 8}-bit).")
            rate = w.getframerate()
            body = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise PromptError(f"The speech synthesiser produced something that is not a WAV "
                          f"file ({exc}).") from None
    body = body[:len(body) - len(body) % 2]
    return np.frombuffer(body, dtype="<i2").astype(np.int16), rate


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
