"""The systemd units are valid: systemd-analyze verify passes with no warnings at all."""

import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = sorted((Path(__file__).parent.parent / "systemd").glob("*.service"))


def _exec_paths(unit: Path) -> list[str]:
    return [line.split("=", 1)[1].split()[0] for line in unit.read_text().splitlines()
            if line.startswith("ExecStart=")]


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_verifies_cleanly(unit, tmp_path):
    # A root tree holding the stock system units, our unit, and its ExecStart program.
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    for exe in _exec_paths(unit):
        target = root / exe.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("#!/bin/sh\n")
        target.chmod(0o755)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                             f"/etc/systemd/system/{unit.name}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_units_start_the_callbox_command():
    assert len(UNITS) == 2
    for unit in UNITS:
        [exe] = _exec_paths(unit)
        assert exe.endswith("/bin/callbox")
