"""What the metrics cost: one histogram observation (in memory vs prometheus-client's multiprocess
files, which ``tandem serve`` and its workers use) and one render of ``/metrics`` from the files of
several processes. Writes ``benchmarks/results/metrics_cost.json``.

    python -m benchmarks.metrics_cost
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "metrics_cost.json"
OBSERVATIONS = 100_000
RENDERS = 50


def _observation_cost_us() -> float:
    """Microseconds per ``observe()`` of a live-latency histogram, in this process's mode."""
    from core.metrics import LIVE_FIRST_PARTIAL_SECONDS

    started = time.perf_counter()
    for index in range(OBSERVATIONS):
        LIVE_FIRST_PARTIAL_SECONDS.observe((index % 300) / 100)
    return (time.perf_counter() - started) / OBSERVATIONS * 1e6


def _record_some(directory: str) -> None:
    """A stand-in worker: records a few jobs' worth of samples into the shared folder, then exits."""
    from core.metrics_files import share_metrics

    share_metrics(Path(directory), fresh=False)
    from core.metrics import JOB_STAGE_SECONDS, JOBS

    for stage in ("prepare", "transcribe", "diarize", "merge", "names", "persist"):
        JOB_STAGE_SECONDS.labels(stage=stage).observe(1.0)
    JOBS.labels(status="completed").inc()


def _child(mode: str) -> dict[str, float]:
    if mode == "memory":
        return {"observe_us": _observation_cost_us()}
    from core.metrics_files import share_metrics

    directory = tempfile.mkdtemp(prefix="tandem-metrics-")
    share_metrics(Path(directory), fresh=True)
    observe_us = _observation_cost_us()
    context = multiprocessing.get_context("spawn")
    for _ in range(4):  # the control plane (this process) + 4 workers' files
        worker = context.Process(target=_record_some, args=(directory,))
        worker.start()
        worker.join()
    from core.metrics import render_metrics

    renders = []
    for _ in range(RENDERS):
        started = time.perf_counter()
        body, _ = render_metrics()
        renders.append((time.perf_counter() - started) * 1000)
    return {
        "observe_us": observe_us,
        "render_ms_median": statistics.median(renders),
        "render_bytes": len(body),
        "processes": 5,
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2])))
        return
    results = {}
    for mode in ("memory", "multiprocess"):
        environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        output = subprocess.run(
            [sys.executable, "-m", "benchmarks.metrics_cost", "--child", mode],
            capture_output=True, text=True, check=True, env=environment,
        ).stdout
        results[mode] = json.loads(output.strip().splitlines()[-1])
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "observations": OBSERVATIONS, **results}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
