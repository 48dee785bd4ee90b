"""The ``callbox`` command: run the engine, the web side, the demo, simulations and tools."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from appliance.config import ConfigError, demo_config, load_config


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def prepare_virtual_headsets(cfg) -> None:
    """Create the stand-in headset devices and point this process's ALSA at them.

    Must run before anything creates ``pyaudio.PyAudio()`` in this process.
    """
    from appliance.virtual_audio import write_asoundrc

    home = cfg.audio_home
    home.mkdir(parents=True, exist_ok=True)
    write_asoundrc(home, {s.headset: s.mic_tone_hz for s in cfg.staff}, rate=16000,
                   mic_seconds=300.0)
    os.environ["HOME"] = str(home)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def cmd_engine(args) -> int:
    from appliance.engine import Engine

    try:
        cfg = load_config(Path(args.config), Path(args.data) if args.data else None)
    except (ConfigError, OSError) as exc:
        print(f"callbox: {exc}", file=sys.stderr)
        return 2
    engine = Engine(cfg)
    engine.start()
    _announce_setup(engine.store)
    _wait_for_signal()
    engine.stop()
    return 0


def _announce_setup(store) -> str | None:
    """No owner yet: make a one-time setup code and say how to use it (no default password)."""
    from appliance.accounts import has_owner

    if has_owner(store):
        return None
    code = store.setting("setup_code")
    if not code:
        code = secrets.token_hex(4)
        store.set_setting("setup_code", code)
    print(f"\n  First run: open the admin page and set the owner password with setup code {code}\n"
          f"  (or run: callbox set-password --data {store.path.parent})\n", flush=True)
    return code


def cmd_web(args) -> int:
    from web import create_app
    from web.server import serve

    data = Path(args.data)
    app = create_app({"CALLBOX_DB": str(data / "callbox.db"),
                      "CALLBOX_CONTROL": str(data / "engine.sock"),
                      "CALLBOX_RECORDINGS": str(data / "recordings"),
                      "CALLBOX_SETUP_CODE": _setup_code(data)})
    serve(app, host=args.host, port=args.port)
    return 0


def _setup_code(data: Path) -> str | None:
    from appliance.store import Store

    store = Store(data / "callbox.db")
    try:
        return store.setting("setup_code")
    finally:
        store.close()


def cmd_demo(args) -> int:
    from appliance.engine import Engine

    data = Path(args.data).resolve()
    cfg = demo_config(data, lines=args.lines, ring_period_s=args.ring_period,
                      answer_after_s=None if args.no_auto_answer else args.answer_after)
    prepare_virtual_headsets(cfg)
    engine = Engine(cfg)
    engine.start()
    _announce_setup(engine.store)
    web = _WebSupervisor(data, args.host, args.port)
    web.start()
    print(f"Callbox demo running: http://{args.host}:{args.port}  (Ctrl-C stops)", flush=True)
    _wait_for_signal()
    web.stop()
    engine.stop()
    return 0


class _WebSupervisor(threading.Thread):
    """Runs the web side as its own process and restarts it if it dies (calls live on)."""

    def __init__(self, data: Path, host: str, port: int):
        super().__init__(name="web-supervisor", daemon=True)
        self.cmd = [sys.executable, "-m", "appliance.cli", "web", "--data", str(data),
                    "--host", host, "--port", str(port)]
        self._stop = threading.Event()
        self.proc: subprocess.Popen | None = None

    def run(self) -> None:
        while not self._stop.is_set():
            self.proc = subprocess.Popen(self.cmd)
            self.proc.wait()
            if not self._stop.is_set():
                logging.getLogger(__name__).error("web side exited (%s); restarting",
                                                  self.proc.returncode)
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def cmd_simulate(args) -> int:
    from appliance.scenario import ScenarioError, generated_scenario, load_scenario
    from appliance.simulate import run_simulation

    try:
        if args.scenario:
            scenario = load_scenario(Path(args.scenario))
        else:
            scenario = generated_scenario(calls=args.calls, lines=args.lines, seed=args.seed)
    except ScenarioError as exc:
        print(f"callbox simulate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"callbox simulate: cannot read the scenario file: {exc}", file=sys.stderr)
        return 2
    result = run_simulation(scenario, db=Path(args.db) if args.db else None,
                            data=Path(args.data) if args.data else None,
                            timeout_s=args.timeout)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for call in result["calls"]:
            print(f"{call['line']:6} {call['caller'] or '-':12} keys={call['keys'] or '-':3} "
                  f"{call['queue'] or '-':8} {call['agent'] or '-':6} wait={call['wait_s']} "
                  f"talk={call['talk_s']} {call['outcome']}")
        print(json.dumps(result["totals"]))
    return 0 if result["totals"]["complete"] else 1


def cmd_modem_sim(argv: list[str]) -> int:
    from appliance.modem_sim import main_modem_sim

    return main_modem_sim(argv)


def cmd_modems(args) -> int:
    """Lists the voice modems plugged in, what they are, and anything in their way."""
    from appliance.modem_discovery import candidate_ports, discover, modem_manager_warning

    warning = modem_manager_warning()
    if warning:
        print(f"Warning: {warning}\n")
    ports = args.port or candidate_ports()
    if not ports:
        print("No modem ports found (looked in /dev/serial/by-path and /dev/ttyACM*). "
              "Is a USB voice modem plugged in?")
        return 1
    results = discover(ports)
    for result in results:
        print(result.describe())
    return 0 if any(r.ok for r in results) else 1


def cmd_set_password(args) -> int:
    from appliance.accounts import AccountError, set_password
    from appliance.store import Store

    store = Store(Path(args.data) / "callbox.db")
    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass(
        f"New password for {args.user}: ")
    try:
        set_password(store, args.user, password, args.role)
    except AccountError as exc:
        print(f"callbox: {exc}", file=sys.stderr)
        return 2
    print(f"Password set for {args.user} ({args.role}).")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "modem-sim":
        return cmd_modem_sim(argv[1:])
    parser = argparse.ArgumentParser(prog="callbox", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("engine", help="run the call engine on the configured modems and headsets")
    p.add_argument("--config", default="/etc/callbox/callbox.yaml")
    p.add_argument("--data", help="data directory (default from the config, /var/lib/callbox)")
    p.set_defaults(func=cmd_engine)

    p = sub.add_parser("web", help="run the admin web site")
    p.add_argument("--data", default="/var/lib/callbox")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_web)

    p = sub.add_parser("demo", help="run everything on simulated lines, headsets and lights")
    p.add_argument("--data", default="demo-data")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--lines", type=int, default=2)
    p.add_argument("--ring-period", type=float, default=3.0,
                   help="seconds between rings on the simulated lines")
    p.add_argument("--answer-after", type=float, default=3.0,
                   help="simulated staff pick up after this many seconds")
    p.add_argument("--no-auto-answer", action="store_true",
                   help="staff never pick up by themselves; use Answer on the page")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("simulate", help="run scripted calls through the whole stack, no browser")
    p.add_argument("--calls", type=int, default=4)
    p.add_argument("--lines", type=int, default=2)
    p.add_argument("--scenario", help="YAML or JSON scenario file (see README)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--db", help="SQLite file to write the calls to (default: a temporary one)")
    p.add_argument("--data", help="data directory for recordings (default: next to --db)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=600.0)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("modems", help="find the voice modems plugged in and identify them")
    p.add_argument("--port", action="append", help="probe only this port (repeatable)")
    p.set_defaults(func=cmd_modems)

    p = sub.add_parser("set-password", help="set a login's password (creates the login)")
    p.add_argument("--data", default="/var/lib/callbox")
    p.add_argument("--user", default="owner")
    p.add_argument("--role", default="owner")
    p.add_argument("--stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_set_password)

    sub.add_parser("modem-sim", help="start one simulated modem on a pseudo-terminal and print "
                                     "its path (see callbox modem-sim --help)")

    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
