"""Real-time benchmark: N concurrent live sessions against one control plane and one Triton.

Starts the bundled Triton on ``model_repository/`` and one ``tandem serve`` on top of it, then for
each concurrency level streams the espeak conversation (``benchmarks.speech``) from N clients in
lockstep, as 100 ms frames at real-time pace, and measures per utterance (ANCHORS.md definitions)
first partial, final, WER (overall and per voice) and revisions per final word, as defined in
``benchmarks/live_scoring.py`` (which scores the peer of ``--peer whisperlive`` the same way);
``final − silence window`` subtracts the VAD silence window (``Settings.vad_min_silence_s``),
which SPEC reports separately. ``--model`` chooses the live profile (``model=`` of each session).

Also reported per level: WER of each session's joined finals, Triton's average batch size and
queue/compute time per request (deltas of its Prometheus metrics), and CPU use (system-wide and
the Triton / control-plane process trees). Results go to ``benchmarks/results/realtime.{json,png}``.

    python -m benchmarks.realtime --sessions 1,2,4,8 --repeat 2 --markdown
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import os
import platform
import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated

import httpx
import numpy as np
import psutil
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.live_scoring import percentiles, quality_summary, utterance_latencies
from benchmarks.realtime_report import (
    markdown_table,
    per_voice_table,
    plot,
    profiles_table,
    rich_table,
    side_by_side_table,
)
from benchmarks.speech import AUDIO_SETS, SAMPLE_RATE, SpeechClip, benchmark_clip, conversation
from clients.stream_client import StreamResult, encode_audio, stream_audio, stream_url
from core.protocol import (
    AudioEncoding,
    ErrorMessage,
    SessionBegin,
    WarningMessage,
)
from core.settings import load_settings
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_REPOSITORY = PROJECT_ROOT / "model_repository"
DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent / "results"
FRAME_S = 0.1
DEFAULT_PROFILE = "tiny.en"
console = Console()

# --- Triton metrics ---------------------------------------------------------------------------------

_METRIC_LINE = re.compile(r"^(nv_inference_\w+)\{([^}]*)\}\s+([-+0-9.eE]+)\s*$")
_METRICS = (
    "nv_inference_request_success",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
)


def parse_triton_metrics(text: str) -> dict[str, dict[str, float]]:
    """``{model: {metric: value}}`` for the counters used here (summed over versions)."""
    parsed: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = _METRIC_LINE.match(line)
        if not match or match.group(1) not in _METRICS:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        model = labels.get("model")
        if model is None:
            continue
        values = parsed.setdefault(model, {})
        values[match.group(1)] = values.get(match.group(1), 0.0) + float(match.group(3))
    return parsed


def triton_deltas(before: dict, after: dict, models: Iterable[str] = ("streaming_asr", "vad")) -> dict[str, dict]:
    """Average batch size and queue/compute ms per request between two metric snapshots."""
    report = {}
    for model in models:
        delta = {name: after.get(model, {}).get(name, 0.0) - before.get(model, {}).get(name, 0.0) for name in _METRICS}
        requests = delta["nv_inference_request_success"]
        executions = delta["nv_inference_exec_count"]
        report[model] = {
            "requests": int(requests),
            "executions": int(executions),
            "avg_batch": round(delta["nv_inference_count"] / executions, 2) if executions else None,
            "queue_ms_per_request": round(delta["nv_inference_queue_duration_us"] / requests / 1000, 2)
            if requests
            else None,
            "compute_ms_per_request": round(delta["nv_inference_compute_infer_duration_us"] / requests / 1000, 2)
            if requests
            else None,
        }
    return report


def read_triton_metrics(metrics_url: str) -> dict[str, dict[str, float]]:
    return parse_triton_metrics(httpx.get(metrics_url, timeout=5).text)


# --- CPU --------------------------------------------------------------------------------------------


def _tree_sum(pid: int, measure) -> float:
    """``measure(process)`` summed over a process and its live descendants (0 when it is gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += measure(process)
    return total


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants."""
    return _tree_sum(pid, lambda process: sum(process.cpu_times()[:2]))


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its live descendants."""
    return int(_tree_sum(pid, lambda process: process.memory_info().rss))


class CpuMeter:
    """CPU use over an interval: system-wide % and CPU s per wall s of named process trees."""

    def __init__(self, trees: dict[str, int]) -> None:
        self.trees = trees

    def start(self) -> None:
        psutil.cpu_percent(interval=None)
        self._started = time.monotonic()
        self._before = {name: tree_cpu_seconds(pid) for name, pid in self.trees.items()}
        self._client_before = _own_cpu_seconds()

    def stop(self) -> dict[str, float]:
        """Also ``other_cpu_s_per_s``: what the rest of the machine used (other users' work)."""
        wall = time.monotonic() - self._started
        system_percent = psutil.cpu_percent(interval=None)
        report = {"system_percent": round(system_percent, 1), "wall_s": round(wall, 2)}
        used = 0.0
        for name, pid in self.trees.items():
            rate = (tree_cpu_seconds(pid) - self._before[name]) / wall
            used += rate
            report[f"{name}_cpu_s_per_s"] = round(rate, 3)
        client = (_own_cpu_seconds() - self._client_before) / wall
        report["benchmark_client_cpu_s_per_s"] = round(client, 3)
        total = system_percent / 100 * (psutil.cpu_count() or 1)
        report["other_cpu_s_per_s"] = round(max(0.0, total - used - client), 3)
        return report


def wait_for_quiet(threshold_percent: float, max_wait_s: float, sample_s: float = 2.0) -> float:
    """Wait (at most ``max_wait_s``) until system CPU over ``sample_s`` is below the threshold.

    The machine may be shared; returns the last sample so the report shows what the level started on.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        busy = psutil.cpu_percent(interval=sample_s)
        if busy < threshold_percent or time.monotonic() >= deadline:
            return busy


def _own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


# --- one level --------------------------------------------------------------------------------------


async def run_sessions(
    ws_url: str, clip: SpeechClip, sessions: int, *, speed: float = 1.0, model: str = ""
) -> list[StreamResult]:
    """``sessions`` streams of ``clip`` at once (``model``: the live profile; empty: the default), in
    English: the clips are, and a multilingual profile would otherwise detect the language per decode."""
    query = {"encoding": AudioEncoding.PCM_S16LE.value, "sample_rate": SAMPLE_RATE, "model": model, "language": "en"}
    url = stream_url(ws_url, query)
    audio = encode_audio(clip.audio, AudioEncoding.PCM_S16LE)
    return list(
        await asyncio.gather(
            *(
                stream_audio(url, audio, bytes_per_second=SAMPLE_RATE * 2, frame_s=FRAME_S, speed=speed)
                for _ in range(sessions)
            )
        )
    )


def summarize_level(
    sessions: int,
    results: Sequence[StreamResult],
    clip: SpeechClip,
    silence_window_s: float,
    triton: dict,
    cpu: dict,
) -> dict:
    latencies = [lat for result in results for lat in utterance_latencies(result, clip.utterances)]
    finals = [lat.final_s for lat in latencies]
    return {
        "sessions": sessions,
        **quality_summary(results, clip),
        "final_minus_silence_window_s": percentiles(None if f is None else f - silence_window_s for f in finals),
        "vad_speech_start_s": percentiles(lat.speech_start_event_s for lat in latencies),
        "vad_speech_end_s": percentiles(lat.speech_end_event_s for lat in latencies),
        "warnings": sum(len(r.of_type(WarningMessage)) for r in results),
        "errors": sum(len(r.of_type(ErrorMessage)) for r in results),
        "close_codes": sorted({r.close_code for r in results if r.close_code is not None}),
        "triton": triton,
        "cpu": cpu,
        "per_utterance": [
            {
                "utterance": lat.utterance,
                "first_partial_s": _round(lat.first_partial_s),
                "final_s": _round(lat.final_s),
            }
            for lat in latencies
        ],
    }


def where_the_time_goes(
    results: Sequence[StreamResult],
    clip: SpeechClip,
    triton: dict,
    silence_window_s: float,
    asr_model: str = "streaming_asr",
) -> dict:
    """Break the first-partial and final latencies into parts measurable from outside.

    Per utterance, with t0 = speech start on the wall clock:
    - VAD detection: arrival of ``vad.speech_start`` − t0;
    - audio wait: (send time of the frame holding the ``end`` of the first correct message) − arrival of
      ``vad.speech_start``: the audio the session gathered after the VAD fired before it asked for
      the decode that produced the first correct words (partial cadence, minimum partial audio,
      discarded earlier partials);
    - decode turnaround: arrival of that message − send time of that frame, compared with
      Triton's queue + compute per ``streaming_asr`` request; the rest is control plane + network.
    The final is split the same way at ``vad.speech_end``.
    """
    vad_detect, audio_wait, turnaround, before = [], [], [], []
    end_event, after_end_event = [], []
    for result in results:
        for lat, utterance in zip(utterance_latencies(result, clip.utterances), clip.utterances):
            t0 = result.audio_started_at + utterance.speech_start_s
            if lat.speech_start_event_s is not None:
                vad_detect.append(lat.speech_start_event_s)
            if lat.first_partial_s is not None and lat.first_partial_audio_end_s is not None:
                requested_at = result.audio_started_at + _sent_at(lat.first_partial_audio_end_s)
                arrived_at = t0 + lat.first_partial_s
                turnaround.append(arrived_at - requested_at)
                before.append(lat.partials_before_first_correct)
                if lat.speech_start_event_s is not None:
                    audio_wait.append(requested_at - (t0 + lat.speech_start_event_s))
            if lat.speech_end_event_s is not None:
                end_event.append(lat.speech_end_event_s)
                if lat.final_s is not None:
                    after_end_event.append(lat.final_s - lat.speech_end_event_s)
    asr = triton.get(asr_model, {})
    triton_ms = None
    if asr.get("compute_ms_per_request") is not None:
        triton_ms = round(asr["compute_ms_per_request"] + (asr.get("queue_ms_per_request") or 0.0), 2)
    return {
        "first_partial": {
            "total_p50_s": percentiles(
                lat.first_partial_s for r in results for lat in utterance_latencies(r, clip.utterances)
            )["p50"],
            "vad_speech_start_arrival_p50_s": percentiles(vad_detect)["p50"],
            "audio_wait_after_speech_start_p50_s": percentiles(audio_wait)["p50"],
            "decode_turnaround_p50_s": percentiles(turnaround)["p50"],
            "triton_streaming_asr_queue_plus_compute_ms_per_request": triton_ms,
            "triton_streaming_asr_queue_ms_per_request": asr.get("queue_ms_per_request"),
            "triton_streaming_asr_compute_ms_per_request": asr.get("compute_ms_per_request"),
            "partials_without_a_correct_word_before_first_correct_mean": round(float(np.mean(before)), 2)
            if before
            else None,
        },
        "final": {
            "vad_speech_end_arrival_p50_s": percentiles(end_event)["p50"],
            "vad_silence_window_s": silence_window_s,
            "final_after_speech_end_message_p50_s": percentiles(after_end_event)["p50"],
        },
    }


def _sent_at(audio_end_s: float, frame_s: float = FRAME_S) -> float:
    """Seconds after ``audio_started_at`` at which the frame ending at ``audio_end_s`` was sent."""
    return max(0.0, np.ceil(round(audio_end_s / frame_s, 6)) * frame_s - frame_s)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --- CLI --------------------------------------------------------------------------------------------

app = typer.Typer(add_completion=False)


def _parse_levels(text: str) -> list[int]:
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or min(levels) < 1:
        raise typer.BadParameter("give positive session counts, e.g. 1,2,4,8")
    return levels


@app.command()
def main(
    sessions: Annotated[str, typer.Option(help="Concurrency levels, comma-separated.")] = "1,2,4,8",
    repeat: Annotated[int, typer.Option(min=1, help="Times the 4-line conversation is repeated per stream.")] = 2,
    audio: Annotated[
        str, typer.Option(help="Conversation: tests (the tests' voices), held-out (2 voices) or unseen (6 voices).")
    ] = "tests",
    model: Annotated[
        str, typer.Option(help="Live profile (model= of each session): tiny.en or base.")
    ] = DEFAULT_PROFILE,
    output_dir: Annotated[
        Path, typer.Option(help="Where realtime[-AUDIO][-MODEL].json and .png go (defaults: no suffix).")
    ] = DEFAULT_OUTPUT_DIR,
    markdown: Annotated[bool, typer.Option(help="Print the README table (markdown) at the end.")] = False,
    quiet_below: Annotated[
        float, typer.Option(help="Before each level, wait until system CPU is below this % (shared machines).")
    ] = 20.0,
    quiet_wait_s: Annotated[float, typer.Option(help="Longest wait for a quiet machine (0: do not wait).")] = 120.0,
    from_json: Annotated[
        list[Path] | None,
        typer.Option(help="Do not run: redraw and print the tables from this JSON (twice or more: compare profiles)."),
    ] = None,
    peer: Annotated[
        str, typer.Option(help="Also run each level against a peer on the same audio: whisperlive (or empty).")
    ] = "",
    peer_venv: Annotated[
        Path, typer.Option(help="The peer's own virtualenv (created and filled on first use).")
    ] = PROJECT_ROOT / "var" / "peers" / "whisperlive",
) -> None:
    """Measure live latency, batching and CPU at each concurrency level."""
    if from_json:
        reports = [json.loads(path.read_text()) for path in from_json]
        if len(reports) > 1:
            print(profiles_table(reports))
            return
        report = reports[0]
        plot(report, output_dir / f"{from_json[0].stem}.png")
        console.print(rich_table(report))
        print(markdown_table(report))
        if any("peer" in level for level in report["levels"]):
            print(side_by_side_table(report))
        print(per_voice_table(report))
        return
    if peer not in ("", "whisperlive"):
        raise typer.BadParameter("--peer must be whisperlive (or empty)")
    levels = _parse_levels(sessions)
    if audio not in AUDIO_SETS:
        raise typer.BadParameter(f"--audio must be one of {', '.join(AUDIO_SETS)}")
    clip = benchmark_clip(repeat, audio)
    triton_model, model_path = _profile(model)
    stem = "-".join(
        ["realtime", *([audio] if audio != "tests" else []), *([model] if model != DEFAULT_PROFILE else [])]
    )
    settings = load_settings()
    silence_window_s = settings.vad_min_silence_s
    report: dict = {
        "benchmark": "realtime",
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "model": None,
        },
        "settings": {
            "partial_interval_s": settings.partial_interval_s,
            "stable_partials": settings.stable_partials,
            "context_words": settings.context_words,
            "vad_min_silence_s": silence_window_s,
            "vad_threshold": settings.vad_threshold,
            "frame_s": FRAME_S,
            "model": model,
            "triton_model": triton_model,
        },
        "clip": {
            "duration_s": round(clip.duration_s, 2),
            "repeat": repeat,
            "audio": audio,
            "utterances_per_session": len(clip.utterances),
            "text": clip.text,
        },
        "definitions": {
            "first_partial_s": "arrival of the first partial/final over the utterance holding one of its words "
            "(lower-cased, no punctuation) - (audio_started_at + speech_start_s)",
            "final_s": "arrival of the final in which the utterance's last reference word first appears "
            "(else the final covering its speech end) - (audio_started_at + speech_end_s)",
            "final_minus_silence_window_s": "final_s - Settings.vad_min_silence_s",
            "pacing": "frame k (100 ms) is sent at audio_started_at + k * 0.1 s",
        },
        "levels": [],
    }
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as work:
        work_dir = Path(work)
        console.print("starting tritonserver …")
        with TritonServer(MODEL_REPOSITORY, work_dir / "triton") as triton:
            assert triton.endpoints is not None
            control_plane = ServeProcess(work_dir / "server", triton.endpoints.grpc_url)
            peer_server = None
            try:
                if peer:
                    from benchmarks import peer_whisperlive
                    from triton_models.backend_config import resolve_model_path

                    console.print("starting WhisperLive …")
                    peer_server = peer_whisperlive.WhisperLiveServer(
                        peer_whisperlive.ensure_virtualenv(peer_venv),
                        resolve_model_path(model_path),
                        work_dir / "whisperlive.log",
                    )
                    report["peer"] = {"name": f"WhisperLive {peer_whisperlive.VERSION}", "max_clients": 4}
                triton_pid = triton._process.pid  # noqa: SLF001 - the launcher keeps its Popen private
                meter = CpuMeter({"triton": triton_pid, "control_plane": control_plane.process.pid})
                console.print("warm-up session …")
                warmup = asyncio.run(run_sessions(control_plane.ws_url, conversation(), 1, speed=0.0, model=model))
                begins = warmup[0].of_type(SessionBegin)
                report["machine"]["model"] = begins[0].model if begins else None
                with Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(),
                    console=console,
                ) as progress:
                    task = progress.add_task("levels", total=len(levels))
                    for level in levels:
                        progress.update(task, description=f"{level} session(s), {clip.duration_s:.0f} s of audio")
                        idle_before = wait_for_quiet(quiet_below, quiet_wait_s) if quiet_wait_s > 0 else None
                        before = read_triton_metrics(triton.endpoints.metrics_url)
                        meter.start()
                        results = asyncio.run(run_sessions(control_plane.ws_url, clip, level, model=model))
                        cpu = meter.stop()
                        triton_report = triton_deltas(
                            before, read_triton_metrics(triton.endpoints.metrics_url), (triton_model, "vad")
                        )
                        summary = summarize_level(level, results, clip, silence_window_s, triton_report, cpu)
                        summary["cpu"]["system_percent_before_level"] = idle_before
                        summary["load_average"] = os.getloadavg()
                        summary["breakdown"] = where_the_time_goes(
                            results, clip, triton_report, silence_window_s, triton_model
                        )
                        if level == min(levels):
                            report["where_the_time_goes"] = {"sessions": level, **summary["breakdown"]}
                        if peer_server is not None:
                            summary["peer"] = _peer_level(peer_server.url, clip, level, quiet_below, quiet_wait_s)
                        report["levels"].append(summary)
                        progress.advance(task)
            finally:
                control_plane.stop()
                if peer_server is not None:
                    peer_server.stop()
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, output_dir / f"{stem}.png")
    console.print(rich_table(report))
    console.print_json(data=report.get("where_the_time_goes", {}))
    console.print(f"wrote {output_dir / stem}.json and .png")
    if markdown:
        print(markdown_table(report))
    if peer:
        print(side_by_side_table(report))
    print(per_voice_table(report))


def _profile(model: str) -> tuple[str, str]:
    """The Triton model and ``model_path`` of the live profile ``model`` (the peer serves the same weights)."""
    for config_path in sorted(MODEL_REPOSITORY.glob("streaming_asr*/config.pbtxt")):
        config = config_path.read_text()
        parameters = dict(re.findall(r'key: "(\w+)" value: \{ string_value: "([^"]*)" \}', config))
        if parameters.get("model_name") == model:
            return config_path.parent.name, parameters["model_path"]
    raise typer.BadParameter(f"no live profile {model!r} in {MODEL_REPOSITORY}")


def _peer_level(url: str, clip: SpeechClip, sessions: int, quiet_below: float, quiet_wait_s: float) -> dict:
    from benchmarks.peer_whisperlive import run_peer_sessions

    idle_before = wait_for_quiet(quiet_below, quiet_wait_s) if quiet_wait_s > 0 else None
    results = asyncio.run(run_peer_sessions(url, clip, sessions))
    served = [r for r in results if r.close_code != -1]
    summary = quality_summary(served, clip) if served else {}
    return {
        **summary,
        "refused_sessions": len(results) - len(served),
        "system_percent_before_level": idle_before,
        "load_average": os.getloadavg(),
    }


if __name__ == "__main__":
    app()
