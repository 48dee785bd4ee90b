"""Modem discovery: candidate ports, probing over a pty, ModemManager detection, line mapping."""

from __future__ import annotations

import os
import stat

import pytest

from appliance.modem_commands import ModemError
from appliance.modem_discovery import (MODEM_MANAGER_ADVICE, assign_ports, candidate_ports,
                                       modem_manager_running, modem_manager_warning, probe)
from tests.test_modem_driver import FarEnd, Until, open_script


def test_by_path_names_are_preferred_and_deduplicated(tmp_path):
    dev = tmp_path / "dev"
    by_path = dev / "serial" / "by-path"
    by_path.mkdir(parents=True)
    for name in ("ttyACM0", "ttyACM1", "ttyS0"):
        (dev / name).touch()
    (by_path / "platform-usb-0:1.3:1.0").symlink_to(dev / "ttyACM1")
    (by_path / "platform-usb-0:1.2:1.0").symlink_to(dev / "ttyACM0")
    (by_path / "platform-usb-0:1.2:1.0-alias").symlink_to(dev / "ttyACM0")
    (by_path / "platform-serial").symlink_to(dev / "ttyS0")
    assert candidate_ports(by_path, dev) == [str(by_path / "platform-usb-0:1.2:1.0"),
                                             str(by_path / "platform-usb-0:1.3:1.0")]


def test_falls_back_to_ttyacm_in_numeric_order(tmp_path):
    for name in ("ttyACM10", "ttyACM2", "ttyACM0", "ttyUSB0"):
        (tmp_path / name).touch()
    assert candidate_ports(tmp_path / "missing", tmp_path) == [
        str(tmp_path / "ttyACM0"), str(tmp_path / "ttyACM2"), str(tmp_path / "ttyACM10")]


@pytest.fixture
def far_ends():
    made = []
    yield lambda script: made.append(FarEnd(script)) or made[-1]
    for far in made:
        far.close()


def test_probe_identifies_a_modem_and_closes_it(far_ends):
    far = far_ends(open_script(dialect="usr"))
    result = probe(far.port, timeout=0.5)
    assert result.ok and result.info.dialect == "usr" and result.info.vsm_code == 128
    assert "usr commands" in result.describe()
    far.check(extra=None)
    assert far.closed_seen.wait(2)


def test_probe_of_something_silent_explains(far_ends):
    far = far_ends([Until(b"never")])
    result = probe(far.port, timeout=0.1)
    assert not result.ok and "did not answer AT" in result.error
    assert "no usable voice modem" in result.describe()


def fake_proc(tmp_path, names):
    proc = tmp_path / "proc"
    for pid, name in enumerate(names, start=1):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "comm").write_text(name + "\n")
    (proc / "self").mkdir(parents=True, exist_ok=True)
    return proc


def fake_systemctl(tmp_path, exit_code):
    tool = tmp_path / "systemctl"
    tool.write_text(f"#!/bin/sh\n[ \"$1\" = is-active ] || exit 9\nexit {exit_code}\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return str(tool)


def test_modem_manager_seen_as_a_process(tmp_path):
    proc = fake_proc(tmp_path, ["bash", "ModemManager"])
    assert modem_manager_running(proc, systemctl=fake_systemctl(tmp_path, 3))
    assert modem_manager_warning(proc=proc, systemctl="") == MODEM_MANAGER_ADVICE
    assert "systemctl disable --now ModemManager" in MODEM_MANAGER_ADVICE


def test_modem_manager_seen_as_an_active_unit(tmp_path):
    proc = fake_proc(tmp_path, ["bash"])
    assert modem_manager_running(proc, systemctl=fake_systemctl(tmp_path, 0))
    assert not modem_manager_running(proc, systemctl=fake_systemctl(tmp_path, 3))
    assert modem_manager_warning(proc=proc, systemctl="") is None


def test_this_machine_has_no_modem_manager():
    assert modem_manager_running() is False  # the real /proc and systemctl


def test_assign_ports_explicit_and_automatic(tmp_path):
    ports = []
    for name in ("a", "b", "c"):
        (tmp_path / name).touch()
        ports.append(str(tmp_path / name))
    alias = tmp_path / "alias-of-b"
    alias.symlink_to(tmp_path / "b")
    got = assign_ports({"line1": None, "line2": str(alias), "line3": "auto"}, ports)
    assert got == {"line2": str(alias), "line1": ports[0], "line3": ports[2]}


def test_assign_ports_explains_problems(tmp_path):
    (tmp_path / "a").touch()
    a = str(tmp_path / "a")
    with pytest.raises(ModemError, match="no such device"):
        assign_ports({"line1": str(tmp_path / "gone")}, [a])
    with pytest.raises(ModemError, match="both set to the same modem"):
        assign_ports({"line1": a, "line2": a}, [a])
    with pytest.raises(ModemError, match="only 1 modem port"):
        assign_ports({"line1": None, "line2": None}, [a])
    os.remove(a)
