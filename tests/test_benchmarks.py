"""The benchmarks still run and print what they promise (their figures are not judged here)."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def test_lines_benchmark_prints_its_figures():
    result = subprocess.run([sys.executable, str(BENCH / "lines.py"), "--json", "--lines", "2",
                             "--talk", "1", "--calls", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("cpu_s_per_call_s", "lines_per_core_at_50pct", "answer_latency_ms_p50",
                "answer_latency_ms_p95"):
        assert isinstance(figures[key], (int, float)) and figures[key] > 0
    assert figures["calls"] == 2 and figures["errors"] == []


def test_engine_benchmark_prints_its_figures():
    result = subprocess.run([sys.executable, str(BENCH / "engine.py"), "--json", "--lines", "1",
                             "--talk", "1", "--calls", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["answered"] == 1
    assert figures["engine_cpu_s_per_call_s"] > 0 and figures["peak_rss_mb"] > 0
