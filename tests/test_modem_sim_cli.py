"""``callbox modem-sim`` (``main_modem_sim``): a standalone simulator in its own process that
prints its pty path, rings with ``--call``, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.modem_sim import main_modem_sim
from tests.test_modem_sim_helpers import Port

ROOT = Path(__file__).resolve().parent.parent
RUN = "import sys; from appliance.modem_sim import main_modem_sim; sys.exit(main_modem_sim(sys.argv[1:]))"


@pytest.fixture
def modem_sim_process():
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen([sys.executable, "-c", RUN, *args], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/"), (path, proc.stderr.read() if proc.poll() else "")
        return proc, path

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def test_standalone_simulator_rings_with_the_given_caller_and_stops_on_sigterm(
        modem_sim_process):
    proc, path = modem_sim_process("--dialect", "usr", "--call", "5559876", "--ring-period",
                                   "0.3", "--call-delay", "0.2")
    port = Port(path)
    try:
        port.command("ATE0")
        port.command("AT+VCID=1")
        port.read_until(b"\r\nRING\r\n")
        assert b"NMBR=5559876\r\n" in port.read_until(b"NAME=DOE JOHN\r\n")
        port.command("ATI0")
    finally:
        port.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0


def test_standalone_simulator_without_a_call_answers_commands(modem_sim_process):
    proc, path = modem_sim_process()
    port = Port(path)
    try:
        port.command("AT")
        assert port.info("ATI0") == ["56000"]
    finally:
        port.close()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(5) == 0


@pytest.mark.parametrize("args,message", [
    (["--ring-period", "0"], "--ring-period must be more than 0 seconds"),
    (["--call", "555-12"], "Caller number '555-12' is not valid"),
])
def test_bad_options_are_explained(capsys, args, message):
    assert main_modem_sim(args) == 2
    assert message in capsys.readouterr().err
