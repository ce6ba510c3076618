"""Real-time benchmark: N concurrent live sessions against one control plane and one Triton.

Starts the bundled Triton on ``model_repository/`` and one ``tandem serve`` on top of it, then for
each concurrency level streams the espeak conversation (``benchmarks.speech``) from N clients in
lockstep, as 100 ms frames at real-time pace, and measures per utterance (ANCHORS.md definitions)
first partial, final, WER (overall and per voice) and revisions per final word, as defined in
``benchmarks/live_scoring.py`` (which scores the peer of ``--peer whisperlive`` the same way);
``final − silence window`` subtracts the VAD silence window (``LiveTuning.vad_min_silence_s``),
which SPEC reports separately. ``--model`` chooses the live profile (``model=`` of each session).

Also reported per level: WER of each session's joined finals, Triton's average batch size and
queue/compute time per request (deltas of its Prometheus metrics), and CPU use (system-wide and
the Triton / control-plane process trees). Results go to ``benchmarks/results/realtime.{json,png}``.

    python -m benchmarks.realtime --sessions 1,2,4,8 --repeat 2 --markdown
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.live_scoring import quality_summary
from benchmarks.live_sessions import FRAME_S, run_sessions, summarize_level, where_the_time_goes
from benchmarks.realtime_report import (
    markdown_table,
    per_voice_table,
    plot,
    profiles_table,
    rich_table,
    side_by_side_table,
)
from benchmarks.samplers import CpuMeter, machine, wait_for_quiet
from benchmarks.speech import AUDIO_SETS, SpeechClip, benchmark_clip, conversation
from benchmarks.stack import DEFAULT_OUTPUT_DIR, MODEL_REPOSITORY, PROJECT_ROOT, config_parameters
from benchmarks.triton_metrics import read_triton_metrics, triton_deltas
from core.protocol import SessionBegin
from core.settings import load_settings
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer, model_weights_path

DEFAULT_PROFILE = "tiny.en"
console = Console()


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
    silence_window_s = settings.live.vad_min_silence_s
    report: dict = {
        "benchmark": "realtime",
        "machine": {**machine(), "model": None},
        "settings": {
            "partial_interval_s": settings.live.partial_interval_s,
            "stable_partials": settings.live.stable_partials,
            "context_words": settings.live.context_words,
            "vad_min_silence_s": silence_window_s,
            "vad_threshold": settings.live.vad_threshold,
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
            "final_minus_silence_window_s": "final_s - LiveTuning.vad_min_silence_s",
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

                    console.print("starting WhisperLive …")
                    peer_server = peer_whisperlive.WhisperLiveServer(
                        peer_whisperlive.ensure_virtualenv(peer_venv),
                        model_weights_path(model_path),
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
        parameters = config_parameters(config)
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
