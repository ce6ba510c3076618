"""Peak memory of a job against the length of its upload: the worker's and Triton's process trees.

One Triton, one control plane, one worker (all started here). For each length the espeak
conversation is repeated to fill it and uploaded with diarization on; the resident memory (RSS)
of the worker tree and of the Triton tree is sampled every 0.5 s from just before the upload to
the job's end. Issue 22's goal is a flat peak, not one growing with the upload; the figures show
where it stands. Results go to ``benchmarks/results/job_memory.json``; README lines are printed.

    python -m benchmarks.job_memory --minutes 1 --minutes 10 --minutes 60
"""

from __future__ import annotations

import datetime as _dt
import json
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from benchmarks.samplers import RssSampler, tree_rss_bytes
from benchmarks.speech import SAMPLE_RATE, conversation
from benchmarks.stack import DEFAULT_OUTPUT_DIR, MODEL_REPOSITORY
from clients.jobs_client import upload, wait_for_status, wav_bytes
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer
from launchers.worker_processes import WorkerProcess

SAMPLE_EVERY_S = 0.5
console = Console()


def main(
    minutes: Annotated[list[float], typer.Option(help="Upload lengths in minutes (repeat the option).")] = [  # noqa: B006
        1.0,
        10.0,
    ],
    output_dir: Annotated[Path, typer.Option(help="Where job_memory.json goes.")] = DEFAULT_OUTPUT_DIR,
) -> None:
    speech = conversation().audio
    runs = []
    with tempfile.TemporaryDirectory(prefix="tandem-job-memory-") as work:
        work_dir = Path(work)
        with TritonServer(MODEL_REPOSITORY, work_dir / "triton") as triton:
            server = ServeProcess(work_dir / "server", triton.endpoints.grpc_url)
            worker = WorkerProcess(triton.endpoints.grpc_url, work_dir / "worker.log", server.environment)
            try:
                for length in minutes:
                    runs.append(_measure(server, worker, triton, speech, length))
                    console.print(runs[-1])
                    _write_report(runs, output_dir)  # after each length: a long run stopped keeps the shorter ones
            finally:
                worker.stop()
                server.stop()
    for run in runs:
        console.print(
            f"| {run['minutes']:g} min | {run['worker_peak_mb']:.0f} MB (+{run['worker_growth_mb']:.0f}) |"
            f" {run['triton_peak_mb']:.0f} MB (+{run['triton_growth_mb']:.0f}) | {run['job_s']:.0f} s |"
            f" {run['status']} |"
        )


def _write_report(runs: list[dict], output_dir: Path) -> None:
    report = {"date": _dt.date.today().isoformat(), "sample_every_s": SAMPLE_EVERY_S, "runs": runs}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "job_memory.json").write_text(json.dumps(report, indent=2) + "\n")


def _measure(
    server: ServeProcess, worker: WorkerProcess, triton: TritonServer, speech: np.ndarray, minutes: float
) -> dict:
    audio = wav_bytes(np.resize(speech, int(minutes * 60 * SAMPLE_RATE)))
    trees = {"worker": worker.pid, "triton": triton._process.pid}  # noqa: SLF001
    baseline = {tree: round(tree_rss_bytes(pid) / 2**20, 1) for tree, pid in trees.items()}  # before the upload
    roots = {tree: (lambda pid=pid: [pid]) for tree, pid in trees.items()}
    with RssSampler(roots, interval_s=SAMPLE_EVERY_S) as sampler:
        started = time.monotonic()
        created = upload(server.http_url, audio, speaker_detection="diarize")
        created.raise_for_status()
        job = wait_for_status(server.http_url, created.json()["id"], timeout_s=3600)
        job_s = time.monotonic() - started
    peak = {tree: round(sampler.peak_mb[tree], 1) for tree in trees}
    return {
        "minutes": minutes,
        "status": job["status"],
        "job_s": round(job_s, 1),
        **{f"{tree}_baseline_mb": baseline[tree] for tree in trees},
        **{f"{tree}_peak_mb": peak[tree] for tree in trees},
        **{f"{tree}_growth_mb": round(peak[tree] - baseline[tree], 1) for tree in trees},
        "worker_by_stage": worker_by_stage(job.get("stages") or [], sampler.samples),
    }


def worker_by_stage(stages: list[dict], samples: list[tuple[float, dict[str, float]]]) -> dict[str, dict]:
    """The worker's RSS (MB) when each stage started and its peak while it ran, up to the first sample
    after its end (transcribe and diarize run at once, so their peaks may be one and the same)."""
    by_stage = {}
    for stage in stages:
        if not stage.get("started_at") or not stage.get("completed_at"):
            continue
        start = _dt.datetime.fromisoformat(stage["started_at"]).timestamp()
        end = _dt.datetime.fromisoformat(stage["completed_at"]).timestamp()
        after = [sample["worker"] for at, sample in samples if at > end][:1]  # a stage shorter than a sample
        during = [sample["worker"] for at, sample in samples if start <= at <= end] + after
        before = [sample["worker"] for at, sample in samples if at <= start]
        by_stage[stage["name"]] = {
            "at_start_mb": round(before[-1], 1) if before else None,
            "peak_mb": round(max(during), 1) if during else None,
            "seconds": round(end - start, 1),
        }
    return by_stage


if __name__ == "__main__":
    typer.run(main)
