"""Line driver cost and answer latency on simulated full-duplex calls.

The simulated modems run in a child process (so their cost is not counted); this process runs
one ``VoiceModem`` per line the way the engine does: wait for the ring, answer, start ``+VTR``,
then every 20 ms frame read the caller's audio and write a frame back, until the caller hangs up.

    python benchmarks/lines.py --json [--lines 8] [--talk 10]

prints {"cpu_s_per_call_s", "lines_per_core_at_50pct", "answer_latency_ms_p50",
"answer_latency_ms_p95", ...}. Goals: >= 40 lines per core at <= 50 % CPU; answer latency
(decision to answer -> the first greeting sample reaches the line, counting the silence the
engine queues ahead of it) <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from appliance import pcm  # noqa: E402
from appliance.hangup_detect import reason_for_event  # noqa: E402
from appliance.line import PREFILL_FRAMES  # noqa: E402


def serve_simulators(lines: int, talk_s: float, calls_per_line: int) -> int:
    """Child process: K simulators; ring each line calls_per_line times once told to start."""
    from appliance.modem_sim import HangUp, ModemSimulator, SimCall, Talk, Wait

    sims = [ModemSimulator(name=f"bench{n}") for n in range(lines)]
    for sim in sims:
        print(sim.start(), flush=True)
    sys.stdin.readline()  # the parent has opened every port

    def run(sim):
        for _ in range(calls_per_line):
            handle = sim.place_call(SimCall(number="5551234567", name="BENCH", ring_period=0.3,
                                            steps=[Wait(0.2), Talk(talk_s), HangUp("loop")]))
            handle.done.wait(talk_s + 60)

    threads = [threading.Thread(target=run, args=(s,)) for s in sims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.stdin.readline()  # the parent is done with the ports
    for sim in sims:
        sim.stop()
    return 0


def drive_line(port: str, calls: int, latencies: list, call_seconds: list, errors: list) -> None:
    from appliance.modem import VoiceModem

    greeting = pcm.tone((440, 880), 1.0, amplitude=0.2)
    modem = VoiceModem(port)
    try:
        modem.open()
        stop = threading.Event()
        for _ in range(calls):
            incoming = modem.wait_for_call(1, stop)
            decided = time.perf_counter()
            modem.answer()
            modem.start_duplex()
            for _ in range(PREFILL_FRAMES):  # as the engine's line worker does
                modem.write_audio(pcm.silence())
            queued_ahead = modem.transmit_lead  # audio the modem must play before the greeting
            modem.write_audio(greeting[:pcm.FRAME_SAMPLES])
            latencies.append((time.perf_counter() - decided + max(0.0, queued_ahead)) * 1000)
            started = time.perf_counter()
            sent = pcm.FRAME_SAMPLES
            pending = np.empty(0, dtype=np.int16)
            ended = False
            while not ended:
                samples, events = modem.read_audio(timeout=0.1)
                if any(reason_for_event(e) for e in events):
                    ended = True
                pending = np.concatenate([pending, samples])
                while len(pending) >= pcm.FRAME_SAMPLES:
                    pending = pending[pcm.FRAME_SAMPLES:]
                    frame = greeting[sent % len(greeting):][:pcm.FRAME_SAMPLES]
                    if len(frame) < pcm.FRAME_SAMPLES:
                        frame = pcm.silence()
                    modem.write_audio(frame)
                    sent += pcm.FRAME_SAMPLES
            call_seconds.append(time.perf_counter() - started)
            modem.stop_duplex()
            modem.hang_up()
            assert incoming is not None
    except Exception as exc:  # reported in the output, never hidden
        errors.append(f"{port}: {exc!r}")
    finally:
        modem.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--lines", type=int, default=8)
    parser.add_argument("--talk", type=float, default=8.0)
    parser.add_argument("--calls", type=int, default=2, help="calls per line, one after another")
    parser.add_argument("--serve-sims", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sims:
        return serve_simulators(args.lines, args.talk, args.calls)

    child = subprocess.Popen([sys.executable, __file__, "--serve-sims", "--lines",
                              str(args.lines), "--talk", str(args.talk), "--calls",
                              str(args.calls)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ports = [child.stdout.readline().strip() for _ in range(args.lines)]
    latencies: list[float] = []
    call_seconds: list[float] = []
    errors: list[str] = []
    threads = [threading.Thread(target=drive_line,
                                args=(p, args.calls, latencies, call_seconds, errors))
               for p in ports]
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    for t in threads:
        t.start()
    child.stdin.write("go\n")
    child.stdin.flush()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_SELF)
    child.stdin.write("done\n")
    child.stdin.flush()
    child.wait(timeout=60)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    total_call_s = sum(call_seconds)
    per = cpu / total_call_s if total_call_s else float("nan")
    lat = sorted(latencies)
    result = {
        "cpu_s_per_call_s": round(per, 5),
        "lines_per_core_at_50pct": round(0.5 / per, 1) if per > 0 else None,
        "answer_latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
        "answer_latency_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1)
        if lat else None,
        "lines": args.lines, "calls": len(call_seconds), "call_seconds": round(total_call_s, 1),
        "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 1),
        "goal_lines_per_core": 40, "goal_answer_latency_ms": 100,
        "errors": errors,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:28} {v}")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
