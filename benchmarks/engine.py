"""The whole engine's cost per call: lines, menu, queue, headset bridge with resampling, recording.

Simulated modems run in a child process (their cost is not counted). This process runs the real
engine on those ports, with one virtual headset per line and simulated staff who pick up, and
measures its CPU time per second of call (answer to hang-up) and its peak memory.

    python benchmarks/engine.py --json [--lines 4] [--talk 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.config import Config, LineConfig, StaffConfig  # noqa: E402


def serve_callers(lines: int, talk_s: float, calls_per_line: int) -> int:
    """Child process: one simulator per line; each rings in, presses 1, waits, talks, hangs up."""
    import threading

    from appliance.modem_sim import HangUp, ModemSimulator, Press, SimCall, Talk, Wait

    sims = [ModemSimulator(name=f"bench{n}") for n in range(lines)]
    for sim in sims:
        print(sim.start(), flush=True)
    sys.stdin.readline()

    def run(sim):
        for _ in range(calls_per_line):
            call = SimCall(number="5551234567", name="BENCH", ring_period=0.3,
                           steps=[Wait(0.3), Press("1"), Wait(1.5), Talk(talk_s),
                                  HangUp("loop")])
            sim.place_call(call).done.wait(talk_s + 60)

    threads = [threading.Thread(target=run, args=(s,)) for s in sims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.stdin.readline()
    for sim in sims:
        sim.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--lines", type=int, default=4)
    parser.add_argument("--talk", type=float, default=8.0)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--serve-callers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_callers:
        return serve_callers(args.lines, args.talk, args.calls)

    from appliance.virtual_audio import write_asoundrc

    work = Path(tempfile.mkdtemp(prefix="callbox-bench-"))
    staff = [StaffConfig(f"s{n}", f"Staff {n}", ["sales"], f"headset{n}", 0.2, 1000.0 + 100 * n)
             for n in range(1, args.lines + 1)]
    write_asoundrc(work / "audio", {s.headset: s.mic_tone_hz for s in staff}, rate=16000,
                   mic_seconds=max(30.0, args.calls * (args.talk + 10)))
    os.environ["HOME"] = str(work / "audio")
    child = subprocess.Popen([sys.executable, __file__, "--serve-callers", "--lines",
                              str(args.lines), "--talk", str(args.talk), "--calls",
                              str(args.calls)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    ports = [child.stdout.readline().strip() for _ in range(args.lines)]
    cfg = Config(data_dir=work / "data",
                 lines=[LineConfig(f"line{n + 1}", f"Line {n + 1}", port=p, rings_to_answer=1)
                        for n, p in enumerate(ports)],
                 staff=staff, queues={"sales": "Sales"})
    cfg.menu = {"name": "main", "greeting": "For sales press 1.", "options": {"1": "sales"},
                "timeout_s": 6, "retries": 2}

    from appliance.engine import Engine

    engine = Engine(cfg, control=False)
    engine.start()
    engine.board.wait_until(
        lambda s: all(l["state"] == "idle" and l.get("model") for l in s["lines"]), 30)
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    child.stdin.write("go\n")
    child.stdin.flush()
    expected = args.lines * args.calls
    engine.board.wait_until(
        lambda _s: sum(1 for r in engine.store.calls(limit=expected + 5) if r["ended_at"])
        >= expected, 600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    rows = engine.store.calls(limit=expected + 5)
    engine.stop()
    child.stdin.write("done\n")
    child.stdin.flush()
    child.wait(timeout=60)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    call_s = sum((r["ended_at"] - r["answered_at"]) for r in rows
                 if r["ended_at"] and r["answered_at"])
    per = cpu / call_s if call_s else float("nan")
    result = {
        "engine_cpu_s_per_call_s": round(per, 4),
        "engine_lines_per_core_at_50pct": round(0.5 / per, 1) if per > 0 else None,
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
        "calls": len(rows), "answered": sum(1 for r in rows if r["outcome"] == "answered"),
        "lines": args.lines, "call_seconds": round(call_s, 1), "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 1),
    }
    print(json.dumps(result) if args.json else
          "\n".join(f"{k:32} {v}" for k, v in result.items()))
    return 0 if result["answered"] == expected else 1


if __name__ == "__main__":
    sys.exit(main())
