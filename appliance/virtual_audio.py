"""Stand-in headset devices: ALSA PCMs that behave like USB headsets on a machine without any.

Owns the two kinds of stand-in a ``PyAudioHeadset`` can be pointed at instead of a real
USB headset:

* ``write_asoundrc`` (deterministic, not clocked; unit tests, ``callbox demo``): for every
  headset name an ALSA PCM of that exact name in ``home/.asoundrc``. Its microphone is the
  ALSA ``file`` plugin reading ``home/<name>-mic.raw`` (a steady tone we generate); its
  earpiece is the ``file`` plugin over ``null`` writing ``home/<name>-earpiece.raw``. Both files
  are raw signed 16-bit little-endian mono at ``rate``; a ``plug`` in front converts whatever
  rate and format the application opens with. Reads and writes return at once, so this proves
  the sample plumbing, not timing.
* ``PipeWireSession`` (clocked, for latency and end-to-end tests): a private PipeWire +
  WirePlumber session with one null sink (earpiece) and one virtual source (microphone) per
  headset, exposed to ALSA under the headset's name.

PortAudio reads ``~/.asoundrc`` when the first ``pyaudio.PyAudio()`` of the process is created
(and again only after every instance has been terminated), so ``HOME`` must point at ``home``
before that.

Traps handled here (see docs in /work/shared/reference/testing-without-hardware.md):

* the capture ``file`` plugin also *writes* what it captures to its ``file``; it goes to
  ``/dev/null`` so it can never overwrite the earpiece file;
* reading past the end of the microphone file returns stale data, so the file must be longer
  than any test reads: ``mic_seconds`` (default 120 s; 120 s at 48 kHz is 11.5 MB per headset,
  at 16 kHz 3.8 MB). Reads are paced by the reader, so this is 120 s of call time;
* the earpiece file is truncated every time the headset's output stream is opened and lags up
  to one ALSA buffer (~40 ms) behind ``play`` until the stream is closed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import wave
from pathlib import Path

import numpy as np

from appliance import pcm

ASOUNDRC_MARKER = "# Written by Callbox appliance.virtual_audio"
METADATA_FILE = "callbox-virtual-audio.json"
DEFAULT_MIC_SECONDS = 120.0
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_CHUNK_SECONDS = 10.0


class VirtualAudioError(Exception):
    """The stand-in audio devices could not be set up; ``str(e)`` says why in plain words."""


def mic_path(home: Path, name: str) -> Path:
    """The raw file the stand-in microphone of headset ``name`` plays."""
    return Path(home) / f"{name}-mic.raw"


def earpiece_path(home: Path, name: str) -> Path:
    """The raw file collecting what was played into the earpiece of headset ``name``."""
    return Path(home) / f"{name}-earpiece.raw"


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise VirtualAudioError(
            f"Headset name {name!r} cannot be used for a stand-in device: use a letter followed "
            f"by letters, digits, '-' or '_' (for example 'headset1').")


def _check_path_for_alsa(path: Path) -> None:
    text = str(path)
    if any(ch in text for ch in '"\\\n'):
        raise VirtualAudioError(
            f"The folder {text!r} cannot hold stand-in audio devices: ALSA cannot read paths "
            f"containing quotes, backslashes or line breaks. Choose a plain folder name.")


def _write_mic_file(path: Path, source: float | np.ndarray, rate: int, seconds: float) -> None:
    """Write ``seconds`` of microphone audio: a steady tone (Hz; 0 = silence) or given samples."""
    total = int(round(seconds * rate))
    chunk = int(_CHUNK_SECONDS * rate)
    tmp = path.with_suffix(".raw.tmp")
    with open(tmp, "wb") as f:
        if isinstance(source, np.ndarray):
            samples = np.asarray(source)
            if samples.ndim != 1:
                raise VirtualAudioError("Microphone samples for a stand-in headset must be mono "
                                        f"(one-dimensional), got shape {samples.shape}.")
            samples = samples.astype("<i2")
            f.write(samples[:total].tobytes())
            written = min(len(samples), total)
            while written < total:
                n = min(chunk, total - written)
                f.write(np.zeros(n, dtype="<i2").tobytes())
                written += n
        else:
            for start in range(0, total, chunk):
                n = min(chunk, total - start)
                if source == 0:
                    block = np.zeros(n, dtype="<i2")
                else:
                    block = pcm.tone(float(source), n / rate, rate, amplitude=0.3,
                                     start_sample=start)[:n].astype("<i2")
                f.write(block.tobytes())
    os.replace(tmp, path)


def _check_source(name: str, source, rate: int) -> float | np.ndarray:
    if isinstance(source, np.ndarray):
        return source
    try:
        hz = float(source)
    except (TypeError, ValueError):
        raise VirtualAudioError(
            f"The microphone tone of headset {name!r} must be a frequency in Hz, got {source!r}."
        ) from None
    if not (hz == 0 or 0 < hz < rate / 2):
        raise VirtualAudioError(
            f"The microphone tone of headset {name!r} is {hz:g} Hz; it must be 0 (silent) or "
            f"between 0 and {rate / 2:g} Hz (half of the {rate} Hz device rate).")
    return hz


def _pcm_block(name: str, mic: Path, earpiece: Path, rate: int) -> str:
    return f"""
pcm.{name} {{
    type asym
    playback.pcm {{
        type plug
        slave {{
            pcm {{ type file slave.pcm "null" file "{earpiece}" format "raw" }}
            format S16_LE
            channels 1
            rate {rate}
        }}
    }}
    capture.pcm {{
        type plug
        slave {{
            pcm {{ type file slave.pcm "null" file "/dev/null" infile "{mic}" format "raw" }}
            format S16_LE
            channels 1
            rate {rate}
        }}
    }}
    hint {{
        show on
        description "Callbox stand-in headset {name}"
    }}
}}
"""


def _refuse_foreign_asoundrc(path: Path) -> None:
    if path.exists():
        head = path.read_text(errors="replace")[:200]
        if not head.startswith(ASOUNDRC_MARKER):
            raise VirtualAudioError(
                f"{path} already exists and was not written by Callbox; it was left untouched. "
                f"Point the stand-in devices at an empty folder instead.")


def write_asoundrc(home: Path, headsets: dict[str, float], rate: int = 48000, *,
                   mic_seconds: float = DEFAULT_MIC_SECONDS) -> Path:
    """Create stand-in headset devices in ``home`` and return the ``.asoundrc`` path.

    ``headsets`` maps each headset (ALSA PCM) name to the tone its microphone plays, in Hz
    (0 = a silent microphone), or to int16 samples at ``rate`` to play instead (padded with
    silence to ``mic_seconds``). Earpiece audio lands in ``home/<name>-earpiece.raw`` at ``rate``.
    The process must set ``HOME=home`` before creating ``pyaudio.PyAudio()``.
    """
    home = Path(home)
    if not isinstance(rate, int) or not 8000 <= rate <= 192000:
        raise VirtualAudioError(f"The stand-in device rate must be a whole number of Hz between "
                                f"8000 and 192000, got {rate!r}.")
    if not mic_seconds > 0:
        raise VirtualAudioError(f"mic_seconds must be positive, got {mic_seconds!r}.")
    if not headsets:
        raise VirtualAudioError("No headsets given: name at least one stand-in headset.")
    sources = {}
    for name, source in headsets.items():
        _check_name(name)
        sources[name] = _check_source(name, source, rate)
    home.mkdir(parents=True, exist_ok=True)
    home = home.resolve()
    _check_path_for_alsa(home)
    asoundrc = home / ".asoundrc"
    _refuse_foreign_asoundrc(asoundrc)

    blocks = [f"{ASOUNDRC_MARKER} ({len(sources)} stand-in headsets at {rate} Hz)\n"]
    meta = {}
    for name, source in sources.items():
        mic, ear = mic_path(home, name), earpiece_path(home, name)
        _write_mic_file(mic, source, rate, mic_seconds)
        blocks.append(_pcm_block(name, mic, ear, rate))
        meta[name] = {"rate": rate, "mic": str(mic), "earpiece": str(ear),
                      "mic_hz": None if isinstance(source, np.ndarray) else source,
                      "mic_seconds": mic_seconds}
    tmp = asoundrc.with_name(".asoundrc.tmp")
    tmp.write_text("".join(blocks))
    os.replace(tmp, asoundrc)
    (home / METADATA_FILE).write_text(json.dumps(meta, indent=2))
    return asoundrc


def stand_in_rate(home: Path, name: str) -> int:
    """The rate the stand-in headset ``name`` in ``home`` was created with."""
    try:
        meta = json.loads((Path(home) / METADATA_FILE).read_text())
        return int(meta[name]["rate"])
    except (OSError, ValueError, KeyError) as exc:
        raise VirtualAudioError(f"There is no stand-in headset {name!r} in {home} "
                                f"(write_asoundrc has not created it).") from exc


def earpiece_samples(home: Path, name: str, rate: int | None = None) -> np.ndarray:
    """What headset ``name``'s earpiece was given since its stream was last opened, as int16.

    At the stand-in device rate, or resampled to ``rate`` if given. Close the headset first
    to see everything (the ALSA file plugin holds back up to one buffer while open).
    """
    device_rate = stand_in_rate(home, name)
    path = earpiece_path(home, name)
    if not path.exists():
        return np.zeros(0, dtype=np.int16)
    data = path.read_bytes()
    samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
    if rate is None or rate == device_rate or len(samples) == 0:
        return samples
    import soxr

    return soxr.resample(samples, device_rate, rate).astype(np.int16)


# --------------------------------------------------------------------------------------------
# Clocked stand-in: a private PipeWire session
# --------------------------------------------------------------------------------------------

_PIPEWIRE_BINARIES = ("dbus-daemon", "pipewire", "wireplumber", "pw-cat", "pw-link", "pw-cli")


def _pw_headset_objects(name: str, rate: int) -> str:
    return f"""
    {{ factory = adapter
      args = {{ factory.name = support.null-audio-sink node.name = "{name}-earpiece"
               node.description = "{name} earpiece" media.class = Audio/Sink
               audio.position = [ MONO ] audio.rate = {rate} object.linger = true
               monitor.channel-volumes = true }} }}
    {{ factory = adapter
      args = {{ factory.name = support.null-audio-sink node.name = "{name}-mic"
               node.description = "{name} microphone" media.class = Audio/Source/Virtual
               audio.position = [ MONO ] audio.rate = {rate} object.linger = true }} }}
"""


class PipeWireSession:
    """A private, clocked PipeWire session with stand-in headsets; a context manager.

    ``PipeWireSession(home, ["headset1", "headset2"])`` starts ``dbus-daemon``, ``pipewire`` and
    ``wireplumber`` with ``HOME``/``XDG_*`` pointing into ``home``, declares per headset a null
    sink ``<name>-earpiece`` and a virtual source ``<name>-mic``, and writes ``home/.asoundrc``
    with an ALSA PCM ``<name>`` (``type pipewire``) joining the two. ``env`` holds the variables a
    process (or this one, via ``apply_env``) needs to reach the session.

    ``play_into_mic(name, samples)`` feeds int16 samples to a headset's microphone in real time
    (``pw-cat`` linked with ``pw-link``); ``record_earpiece(name)`` starts capturing what reaches
    the earpiece and returns a handle whose ``stop()`` gives the samples at ``rate``.
    """

    def __init__(self, home: Path, headsets: list[str], rate: int = 48000,
                 start_timeout: float = 10.0):
        for name in headsets:
            _check_name(name)
        missing = [b for b in _PIPEWIRE_BINARIES if shutil.which(b) is None]
        if missing:
            raise VirtualAudioError("The clocked stand-in needs PipeWire, which is not installed "
                                    f"(missing: {', '.join(missing)}).")
        self.home = Path(home).resolve()
        _check_path_for_alsa(self.home)
        self.headsets = list(headsets)
        self.rate = rate
        self.start_timeout = start_timeout
        self.env: dict[str, str] = {}
        self._procs: list[subprocess.Popen] = []
        self._helpers: list[subprocess.Popen] = []
        self._saved_env: dict[str, str | None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "PipeWireSession":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        home = self.home
        runtime = home / "run"
        config = home / "config"
        for d in (runtime, config / "pipewire" / "pipewire.conf.d", home / "state"):
            d.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        objects = "".join(_pw_headset_objects(n, self.rate) for n in self.headsets)
        (config / "pipewire" / "pipewire.conf.d" / "callbox-headsets.conf").write_text(
            f"context.properties = {{ default.clock.rate = {self.rate} }}\n"
            f"context.objects = [\n{objects}]\n")
        asoundrc = home / ".asoundrc"
        _refuse_foreign_asoundrc(asoundrc)
        pcms = "".join(
            f'\npcm.{n} {{\n    type pipewire\n    playback_node "{n}-earpiece"\n'
            f'    capture_node "{n}-mic"\n    hint {{ show on description '
            f'"Callbox clocked stand-in headset {n}" }}\n}}\n'
            for n in self.headsets)
        asoundrc.write_text(f"{ASOUNDRC_MARKER} (PipeWire session)\n{pcms}")
        env = dict(os.environ)
        env.update({"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime),
                    "XDG_CONFIG_HOME": str(config), "XDG_STATE_HOME": str(home / "state"),
                    "PIPEWIRE_RUNTIME_DIR": str(runtime)})
        env.pop("PIPEWIRE_REMOTE", None)
        try:
            bus = subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", "--print-address=1",
                 f"--address=unix:path={runtime / 'bus'}"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._procs.append(bus)
            address = self._read_line(bus, "dbus-daemon")
            env["DBUS_SESSION_BUS_ADDRESS"] = address
            self.env = {k: env[k] for k in ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME",
                                           "XDG_STATE_HOME", "PIPEWIRE_RUNTIME_DIR",
                                           "DBUS_SESSION_BUS_ADDRESS")}
            self._full_env = env
            for prog in ("pipewire", "wireplumber"):
                self._procs.append(subprocess.Popen([prog], env=env, stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL))
            self._wait_for_nodes()
        except BaseException:
            self.stop()
            raise

    def _read_line(self, proc: subprocess.Popen, what: str) -> str:
        result: list[str] = []
        done = threading.Event()

        def reader():
            result.append(proc.stdout.readline().strip())
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        if not done.wait(self.start_timeout) or not result or not result[0]:
            raise VirtualAudioError(f"{what} did not start for the clocked stand-in headsets.")
        return result[0]

    def _wait_for_nodes(self) -> None:
        """Block until PipeWire lists every headset node (``pw-link`` lists ports by node)."""
        wanted = {f"{n}-earpiece" for n in self.headsets} | {f"{n}-mic" for n in self.headsets}
        deadline_event = threading.Event()
        timer = threading.Timer(self.start_timeout, deadline_event.set)
        timer.start()
        try:
            seen: set[str] = set()
            while not deadline_event.is_set():
                for proc in self._procs:
                    if proc.poll() is not None:
                        raise VirtualAudioError(
                            f"{proc.args[0]} stopped while starting the clocked stand-in "
                            f"(exit code {proc.returncode}).")
                out = subprocess.run(["pw-link", "-o", "-i"], env=self._full_env,
                                     capture_output=True, text=True, timeout=5).stdout
                seen = {line.split(":", 1)[0].strip() for line in out.splitlines() if ":" in line}
                if wanted <= seen:
                    return
                deadline_event.wait(0.05)  # back-off between polls of an external process
            raise VirtualAudioError("PipeWire did not create the stand-in headset nodes in time "
                                    f"(missing: {', '.join(sorted(wanted - seen))}).")
        finally:
            timer.cancel()

    def apply_env(self) -> None:
        """Point this process at the session (before creating ``pyaudio.PyAudio()``)."""
        self._saved_env = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)

    def restore_env(self) -> None:
        if self._saved_env is None:
            return
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = None

    def unplug_all(self) -> None:
        """Make every headset vanish mid-stream, as when a USB hub is pulled out: the PipeWire
        daemon is killed, so PortAudio streams on it start failing. (Destroying a single node
        is not equivalent: PipeWire quietly re-routes the stream instead of failing it.)"""
        for proc in self._procs:
            if proc.args[0] == "pipewire" and proc.poll() is None:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        self.restore_env()
        for proc in reversed(self._helpers + self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self._helpers + self._procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self._helpers.clear()
        self._procs.clear()

    # -- feeding and capturing ---------------------------------------------------------------
    def _ports(self, flag: str, node: str) -> list[str]:
        out = subprocess.run(["pw-link", flag], env=self._full_env, capture_output=True,
                             text=True, timeout=5).stdout
        return [line.strip() for line in out.splitlines() if line.strip().startswith(node + ":")]

    def _link(self, out_node: str, in_node: str) -> None:
        """Link ``out_node``'s output port to ``in_node``'s input port once both exist
        (this pw-link links ports, not nodes; every stand-in node is mono)."""
        problem = "the nodes did not appear"
        for _ in range(150):
            outs, ins = self._ports("-o", out_node), self._ports("-i", in_node)
            if outs and ins:
                r = subprocess.run(["pw-link", outs[0], ins[0]], env=self._full_env,
                                   capture_output=True, text=True, timeout=5)
                if r.returncode == 0 or "File exists" in r.stderr:
                    return
                problem = r.stderr.strip()
            threading.Event().wait(0.02)  # back-off: pw-cat is still creating its node
        raise VirtualAudioError(f"Could not connect {out_node} to {in_node}: {problem}")

    def play_into_mic(self, name: str, samples: np.ndarray, rate: int | None = None
                      ) -> subprocess.Popen:
        """Play int16 mono ``samples`` (at ``rate``, default the session rate) into ``name``'s
        microphone, in real time; returns the ``pw-cat`` process (ends when the audio does)."""
        rate = rate or self.rate
        node = f"callbox-feed-{name}-{len(self._helpers)}"
        wav = self.home / f"{node}.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
        proc = subprocess.Popen(
            ["pw-cat", "--playback", "-P", f"{{ node.name = {node} node.autoconnect = false }}",
             str(wav)], env=self._full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._helpers.append(proc)
        self._link(node, f"{name}-mic")
        return proc

    def record_earpiece(self, name: str) -> "EarpieceCapture":
        """Start capturing what is played into ``name``'s earpiece; ``.stop()`` returns it."""
        node = f"callbox-tap-{name}-{len(self._helpers)}"
        out = self.home / f"{node}.wav"
        proc = subprocess.Popen(
            ["pw-cat", "--record", "--format", "s16", "--rate", str(self.rate),
             "--channels", "1", "-P", f"{{ node.name = {node} node.autoconnect = false }}",
             str(out)], env=self._full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._helpers.append(proc)
        self._link(f"{name}-earpiece", node)
        return EarpieceCapture(proc, out)


class EarpieceCapture:
    """A running ``pw-cat --record`` (into a WAV file) on a stand-in earpiece; ``stop()``
    ends it and returns what it captured as int16 samples at the session rate."""

    def __init__(self, proc: subprocess.Popen, path: Path):
        self._proc = proc
        self.path = path

    def stop(self) -> np.ndarray:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if not self.path.exists():
            return np.zeros(0, dtype=np.int16)
        with wave.open(str(self.path), "rb") as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
