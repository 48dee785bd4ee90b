"""Finding the voice modems: which serial ports to try, what sits on each, who else holds them.

Owns start-up discovery: listing ``/dev/serial/by-path/*`` (stable names when several
dongles share one USB serial number; falls back to ``/dev/ttyACM*``), probing each port
with the real driver to learn chip, dialect and firmware, spotting ModemManager (which
grabs and probes ``ttyACM`` ports) and mapping the configured line names to ports.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from appliance.modem import ModemInfo, VoiceModem
from appliance.modem_commands import ModemError

BY_PATH = Path("/dev/serial/by-path")
DEV = Path("/dev")

MODEM_MANAGER_ADVICE = (
    "ModemManager is running. It takes over USB modems and sends them its own commands, "
    "which breaks answering calls. Turn it off with 'sudo systemctl disable --now "
    "ModemManager' (or mark the modems with the udev setting ID_MM_DEVICE_IGNORE=1).")

log = logging.getLogger("callbox.modem_discovery")


def candidate_ports(by_path: Path = BY_PATH, dev: Path = DEV) -> list[str]:
    """Serial ports that may hold a modem: stable by-path names first, else ttyACM*."""
    found: list[str] = []
    seen: set[str] = set()
    if by_path.is_dir():
        for entry in sorted(by_path.iterdir()):
            target = os.path.realpath(entry)
            if target not in seen and Path(target).name.startswith(("ttyACM", "ttyUSB")):
                seen.add(target)
                found.append(str(entry))
    if not found:
        for entry in sorted(dev.glob("ttyACM*"), key=lambda p: (len(p.name), p.name)):
            found.append(str(entry))
    return found


@dataclass
class ProbeResult:
    port: str
    info: ModemInfo | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.info is not None

    def describe(self) -> str:
        if self.info is None:
            return f"{self.port}: no usable voice modem ({self.error})"
        i = self.info
        return (f"{self.port}: {i.manufacturer or 'unknown maker'} {i.model or ''} "
                f"firmware {i.firmware or 'unknown'}, {i.dialect} commands, audio "
                f"{i.sample_format}").replace("  ", " ")


def probe(port: str, *, country: str = "B5", timeout: float = 2.0) -> ProbeResult:
    """Open ``port`` with the real driver, identify what answers, close it again."""
    modem = VoiceModem(port, country=country, timeout=timeout, retries=1, log=log)
    try:
        return ProbeResult(port, info=modem.open())
    except ModemError as exc:
        return ProbeResult(port, error=str(exc))
    finally:
        modem.close()


def modem_manager_running(proc: Path = Path("/proc"), systemctl: str | None = None) -> bool:
    """True if a ``ModemManager`` process runs or its systemd unit is active."""
    try:
        entries = list(proc.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "ModemManager":
                return True
        except OSError:
            continue
    tool = systemctl if systemctl is not None else shutil.which("systemctl")
    if not tool:
        return False
    try:
        done = subprocess.run([tool, "is-active", "--quiet", "ModemManager.service"],
                              capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def modem_manager_warning(**kwargs) -> str | None:
    """The advice to give if ModemManager is running, else None."""
    return MODEM_MANAGER_ADVICE if modem_manager_running(**kwargs) else None


def discover(ports: list[str] | None = None, *, country: str = "B5",
             timeout: float = 2.0) -> list[ProbeResult]:
    """Probe every candidate port (or the given ones)."""
    return [probe(p, country=country, timeout=timeout)
            for p in (candidate_ports() if ports is None else ports)]


def _same_device(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def assign_ports(lines: dict[str, str | None], available: list[str]) -> dict[str, str]:
    """Map line names to ports.

    ``lines`` maps each line name to its configured port, or to None/``"auto"`` for "any
    free modem". Configured ports must exist and not be shared; automatic lines take the
    remaining available ports in order. Raises ``ModemError`` with a plain explanation.
    """
    result: dict[str, str] = {}
    for name, port in lines.items():
        if port in (None, "", "auto"):
            continue
        if not os.path.exists(port):
            raise ModemError(f"Line {name!r} is set to use the modem at {port}, but there is "
                             f"no such device. Check the USB cable or the line settings.")
        for other, taken in result.items():
            if _same_device(port, taken):
                raise ModemError(f"Lines {other!r} and {name!r} are both set to the same modem "
                                 f"({port}). Each line needs its own modem.")
        result[name] = port
    free = [p for p in available if not any(_same_device(p, t) for t in result.values())]
    for name, port in lines.items():
        if port not in (None, "", "auto"):
            continue
        if not free:
            wanted = sum(1 for p in lines.values() if p in (None, "", "auto"))
            raise ModemError(f"Line {name!r} has no modem: {wanted} line(s) are set to find "
                             f"their modem automatically but only {len(available)} modem "
                             f"port(s) were found. Plug in another modem or remove a line.")
        result[name] = free.pop(0)
    return result
