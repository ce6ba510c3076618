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

import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.baseline import add_baselines, ratio
from benchmarks.batch_jobs import run_jobs
from benchmarks.batch_report import markdown_table, plot
from benchmarks.live_sessions import live_wer
from benchmarks.meetings import long_meeting, short_meetings
from benchmarks.samplers import machine
from benchmarks.stack import (
    ASR_MODELS,
    DEFAULT_OUTPUT_DIR,
    MODEL_REPOSITORY,
    Stack,
    config_parameters,
    model_repository_copy,
)


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
        parameters = config_parameters(config)
        model_path, model_name = parameters["model_path"], parameters["model_name"]
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
