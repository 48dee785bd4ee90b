"""``callbox modem-sim``: run one simulated modem standalone until SIGINT/SIGTERM.

Prints the pty path on stdout (one flushed line) so another program (minicom, the driver,
the engine) can open it; ``--call NUMBER`` rings the line with that caller after a short delay.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from appliance.modem_sim.caller import HangUp, SimCall, Talk, Wait
from appliance.modem_sim.simulator import ModemSimulator


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callbox modem-sim",
                                description="Run a simulated USB voice modem on a "
                                            "pseudo-terminal and print its path.")
    p.add_argument("--dialect", choices=("conexant", "usr"), default="conexant",
                   help="which modem to imitate (default: conexant CX93001)")
    p.add_argument("--call", metavar="NUMBER",
                   help="ring the line with this caller ID (digits, P private, O out of area, "
                        "'none' for no caller ID)")
    p.add_argument("--name", default="DOE JOHN", help="caller name for --call")
    p.add_argument("--ring-period", type=float, default=6.0, metavar="SECONDS",
                   help="seconds between RINGs (default 6)")
    p.add_argument("--call-delay", type=float, default=2.0, metavar="SECONDS",
                   help="seconds before --call starts ringing (default 2)")
    p.add_argument("--talk", type=float, default=5.0, metavar="SECONDS",
                   help="how long the caller talks once answered (default 5)")
    return p


def main_modem_sim(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.ring_period <= 0:
        print("callbox modem-sim: --ring-period must be more than 0 seconds.", file=sys.stderr)
        return 2
    call = None
    if args.call is not None:
        number = None if args.call.lower() == "none" else args.call
        try:
            call = SimCall(number=number, name=args.name or None, ring_period=args.ring_period,
                           steps=[Wait(1.0), Talk(args.talk), HangUp("loop")])
        except ValueError as exc:
            print(f"callbox modem-sim: {exc}", file=sys.stderr)
            return 2
    sim = ModemSimulator(name="modem-sim", dialect=args.dialect)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        port = sim.start()
        print(port, flush=True)
        if call is not None and not stop.wait(args.call_delay):
            handle = sim.place_call(call)
            print(f"ringing with caller {args.call}", file=sys.stderr, flush=True)
            while not stop.wait(0.2):
                if handle.done.is_set():
                    print(f"call ended: {handle.outcome}", file=sys.stderr, flush=True)
                    break
        stop.wait()
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
