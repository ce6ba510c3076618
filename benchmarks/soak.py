"""Soak benchmark: N sessions streaming real-time for M minutes against one control plane and Triton.

Each session streams the espeak conversation, repeated to fill the time, in 100 ms frames at
real-time pace (``store_audio`` on, so the recording path is soaked too). Every 10 s the resident
memory (RSS) of the control plane and of Triton (each process tree) is sampled; per utterance the
first-partial and final latencies are measured as in :mod:`benchmarks.realtime`.

Pass criteria (issue 14): RSS growth from minute 2 to the end < 5 % for both trees, and the
median first-partial and final latencies of the last minute within 10 % of the first minute's.
Results go to ``benchmarks/results/soak.json``; the README line is printed at the end.

    python -m benchmarks.soak --sessions 4 --minutes 10
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import math
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from benchmarks.live_scoring import utterance_latencies
from benchmarks.live_sessions import FRAME_S
from benchmarks.samplers import per_triton_model, tree_rss_bytes
from benchmarks.speech import SAMPLE_RATE, benchmark_clip, conversation, word_error_rate
from benchmarks.stack import DEFAULT_OUTPUT_DIR, MODEL_REPOSITORY
from clients.stream_client import StreamResult, encode_audio, stream_audio, stream_url
from core.protocol import AudioEncoding, ErrorMessage
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer

console = Console()
SAMPLE_EVERY_S = 10.0
RSS_GROWTH_LIMIT = 0.05
LATENCY_DRIFT_LIMIT = 0.10


class RssSampler:
    """Samples the RSS of named process trees every :data:`SAMPLE_EVERY_S` on a thread."""

    def __init__(self, trees: dict[str, int], triton_pid: int | None = None) -> None:
        """``triton_pid``: also sample each Triton model's processes (``triton_<model>_rss_mb``)."""
        self.trees = trees
        self.triton_pid = triton_pid
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_EVERY_S)

    def _sample(self) -> None:
        sample = {"t_s": round(time.monotonic() - self._started, 1)}
        sample.update({f"{name}_rss_mb": round(tree_rss_bytes(pid) / 2**20, 1) for name, pid in self.trees.items()})
        if self.triton_pid is not None:
            per_model = per_triton_model(self.triton_pid, lambda process: process.memory_info().rss)
            sample.update({f"triton_{model}_rss_mb": round(rss / 2**20, 1) for model, rss in per_model.items()})
        self.samples.append(sample)


def rss_growth(samples: list[dict[str, float]], tree: str, from_s: float) -> float:
    """Relative RSS growth of ``tree`` from the first sample at or after ``from_s`` to the last sample."""
    key = f"{tree}_rss_mb"
    start = next(s[key] for s in samples if s["t_s"] >= from_s)
    return (samples[-1][key] - start) / start


def minute_medians(results: list[StreamResult], clip, minute_s: tuple[float, float]) -> dict[str, float | None]:
    """Median first-partial and final latency of the utterances spoken within ``minute_s``."""
    first, final = [], []
    for result in results:
        for latency in utterance_latencies(result, clip.utterances):
            spoken_at = clip.utterances[latency.utterance].speech_start_s
            if minute_s[0] <= spoken_at < minute_s[1]:
                if latency.first_partial_s is not None:
                    first.append(latency.first_partial_s)
                if latency.final_s is not None:
                    final.append(latency.final_s)
    return {
        "first_partial_p50_s": round(statistics.median(first), 3) if first else None,
        "final_p50_s": round(statistics.median(final), 3) if final else None,
        "utterances": len(first),
    }


def _drift(first: float | None, last: float | None) -> float | None:
    return None if first is None or last is None else round((last - first) / first, 3)


async def _stream_all(ws_url: str, audio: bytes, sessions: int) -> list[StreamResult]:
    url = stream_url(ws_url, {"store_audio": True})
    return list(
        await asyncio.gather(
            *(
                stream_audio(url, audio, bytes_per_second=SAMPLE_RATE * 2, frame_s=FRAME_S, speed=1.0)
                for _ in range(sessions)
            )
        )
    )


def main(
    sessions: Annotated[int, typer.Option(min=1, help="Concurrent sessions.")] = 4,
    minutes: Annotated[float, typer.Option(min=1, help="Real-time minutes each session streams.")] = 10.0,
    output_dir: Annotated[Path, typer.Option(help="Where soak.json goes.")] = DEFAULT_OUTPUT_DIR,
) -> None:
    """Stream N sessions for M minutes; report memory growth and latency drift."""
    one = conversation()
    clip = benchmark_clip(max(1, math.ceil(minutes * 60 / one.duration_s)))
    audio = encode_audio(clip.audio, AudioEncoding.PCM_S16LE)
    duration_s = clip.duration_s
    with tempfile.TemporaryDirectory(prefix="tandem-soak-") as work:
        work_dir = Path(work)
        console.print("starting tritonserver …")
        with TritonServer(MODEL_REPOSITORY, work_dir / "triton") as triton:
            control_plane = ServeProcess(work_dir / "server", triton.endpoints.grpc_url)
            try:
                asyncio.run(_stream_all(control_plane.ws_url, encode_audio(one.audio, AudioEncoding.PCM_S16LE), 1))
                trees = {"control_plane": control_plane.process.pid, "triton": triton._process.pid}  # noqa: SLF001
                console.print(f"{sessions} sessions × {duration_s / 60:.1f} min at real-time pace …")
                with RssSampler(trees, triton_pid=trees["triton"]) as sampler:
                    results = asyncio.run(_stream_all(control_plane.ws_url, audio, sessions))
            finally:
                control_plane.stop()
    first_minute = minute_medians(results, clip, (0.0, 60.0))
    last_minute = minute_medians(results, clip, (duration_s - 60.0, duration_s))
    growth = {tree: round(rss_growth(sampler.samples, tree, min(120.0, duration_s / 2)), 4) for tree in trees}
    drift = {
        "first_partial": _drift(first_minute["first_partial_p50_s"], last_minute["first_partial_p50_s"]),
        "final": _drift(first_minute["final_p50_s"], last_minute["final_p50_s"]),
    }
    report = {
        "benchmark": "soak",
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "sessions": sessions,
        "audio_s_per_session": round(duration_s, 1),
        "rss_samples": sampler.samples,
        "rss_growth_from_minute_2": growth,
        "first_minute": first_minute,
        "last_minute": last_minute,
        "latency_drift": drift,
        "errors": sum(len(r.of_type(ErrorMessage)) for r in results),
        "wer": [
            round(word_error_rate(clip.text, r.session_end.transcript), 3) if r.session_end else None for r in results
        ],
        "passed": all(g < RSS_GROWTH_LIMIT for g in growth.values())
        and all(d is not None and abs(d) <= LATENCY_DRIFT_LIMIT for d in drift.values()),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    console.print_json(json.dumps({k: v for k, v in report.items() if k != "rss_samples"}))
    print(
        f"Soak ({report['date'][:10]}, {sessions} sessions × {duration_s / 60:.1f} min real-time): RSS growth from "
        f"minute 2 control plane {growth['control_plane']:+.1%}, Triton {growth['triton']:+.1%}; median first "
        f"partial {first_minute['first_partial_p50_s']} → {last_minute['first_partial_p50_s']} s, final "
        f"{first_minute['final_p50_s']} → {last_minute['final_p50_s']} s (first → last minute); "
        f"{'passed' if report['passed'] else 'FAILED'} (< 5 % RSS, ≤ 10 % latency drift)."
    )


if __name__ == "__main__":
    typer.run(main)
