"""The ``callbox`` command's tools, run as a technician would run them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from appliance.modem_sim import ModemSimulator
from appliance.store import Store


def callbox(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True,
                          text=True, input=input, timeout=60)


@pytest.fixture
def usr_modem():
    sim = ModemSimulator(name="cli", dialect="usr")
    sim.start()
    yield sim
    sim.stop()


def test_modems_identifies_a_modem_on_a_port(usr_modem):
    result = callbox("modems", "--port", usr_modem.port)
    assert result.returncode == 0, result.stderr
    assert "U.S. Robotics" in result.stdout and "usr commands" in result.stdout


def test_modems_explains_a_port_with_no_modem(tmp_path):
    result = callbox("modems", "--port", str(tmp_path / "ttyACM9"))
    assert result.returncode == 1
    assert "no usable voice modem" in result.stdout


def test_set_password_creates_the_owner_and_refuses_a_short_password(tmp_path):
    data = tmp_path / "data"
    short = callbox("set-password", "--stdin", "--data", str(data), input="abc\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    ok = callbox("set-password", "--stdin", "--data", str(data), input="a good password\n")
    assert ok.returncode == 0, ok.stderr
    user = Store(data / "callbox.db").user("owner")
    assert user["role"] == "owner"
    assert "a good password" not in user["password_hash"]


def test_engine_refuses_a_broken_config_file_naming_the_field(tmp_path):
    config = tmp_path / "callbox.yaml"
    config.write_text("lines:\n  - label: Main\nstaff: []\n")
    result = callbox("engine", "--config", str(config), "--data", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "lines[1]: 'id' is missing" in result.stderr


def test_modem_sim_prints_its_port_and_answers_at(tmp_path):
    import serial

    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "modem-sim"],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/pts/")
        with serial.Serial(port, 115200, timeout=2) as s:
            s.write(b"ATI0\r")
            answer = s.read_until(b"OK\r\n")
        assert b"56000" in answer
    finally:
        proc.terminate()
        proc.wait(timeout=10)
