"""Live decode counts: how much Whisper work a live session asks for, in counts that load does not set.

Streams a conversation from N sessions at once through one ``tandem serve`` and one Triton and
reads Triton's counters before and after: ``streaming_asr`` requests per second of audio per
session, requests per Triton execution, and the WER of the joined finals (so that fewer decodes
are not bought with worse text). Wall-clock latency is left to ``benchmarks.realtime``; these
counts can be compared between runs on a busy machine (``--speed 0``: as fast as the server reads).

    python -m benchmarks.live_decode_counts --sessions 1,8 --audio unseen
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.live_sessions import run_sessions
from benchmarks.speech import AUDIO_SETS, SpeechClip, benchmark_clip, word_error_rate
from benchmarks.stack import DEFAULT_OUTPUT_DIR, MODEL_REPOSITORY
from benchmarks.triton_metrics import read_triton_metrics, triton_deltas
from core.inference import STREAMING_ASR_MODEL
from core.protocol import TranscriptFinal, TranscriptPartial
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer

app = typer.Typer(add_completion=False)


def decode_counts(ws_url: str, metrics_url: str, clip: SpeechClip, sessions: int, speed: float) -> dict:
    """One level: ``sessions`` streams of ``clip`` and the ``streaming_asr`` work they caused."""
    before = read_triton_metrics(metrics_url)
    results = asyncio.run(run_sessions(ws_url, clip, sessions, speed=speed))
    asr = triton_deltas(before, read_triton_metrics(metrics_url), (STREAMING_ASR_MODEL,))[STREAMING_ASR_MODEL]
    audio_s = clip.duration_s * sessions
    return {
        "sessions": sessions,
        "speed": speed,
        "audio_s_per_session": round(clip.duration_s, 2),
        "decodes_per_audio_s": round(asr["requests"] / audio_s, 3),
        "requests_per_execution": asr["avg_batch"],
        "partials_per_audio_s": round(sum(len(r.of_type(TranscriptPartial)) for r in results) / audio_s, 3),
        "finals": sum(len(r.of_type(TranscriptFinal)) for r in results),
        "wer": round(
            sum(word_error_rate(clip.text, " ".join(f.text for f in r.of_type(TranscriptFinal))) for r in results)
            / sessions,
            4,
        ),
        "triton": asr,
    }


@app.command()
def main(
    sessions: Annotated[str, typer.Option(help="Concurrency levels, comma-separated.")] = "1,8",
    audio: Annotated[str, typer.Option(help="Conversation: tests, held-out or unseen.")] = "unseen",
    speed: Annotated[float, typer.Option(help="Times real time (0: as fast as the server reads).")] = 1.0,
    output: Annotated[Path, typer.Option(help="Where the JSON goes.")] = DEFAULT_OUTPUT_DIR
    / "live_decode_counts.json",
) -> None:
    """Count the live path's decodes per second of audio at each concurrency level."""
    if audio not in AUDIO_SETS:
        raise typer.BadParameter(f"--audio must be one of {', '.join(AUDIO_SETS)}")
    clip = benchmark_clip(1, audio)
    levels = [int(part) for part in sessions.split(",") if part.strip()]
    with tempfile.TemporaryDirectory() as work, TritonServer(MODEL_REPOSITORY, Path(work) / "triton") as triton:
        server = ServeProcess(Path(work) / "serve", triton.endpoints.grpc_url)
        try:
            report = {
                "benchmark": "live_decode_counts",
                "audio": audio,
                "levels": [decode_counts(server.ws_url, triton.endpoints.metrics_url, clip, n, speed) for n in levels],
            }
        finally:
            server.stop()
    previous = json.loads(output.read_text()) if output.exists() else {}
    previous[f"{audio}@{speed:g}x"] = report
    output.write_text(json.dumps(previous, indent=2) + "\n")
    print(json.dumps(report["levels"], indent=2))


if __name__ == "__main__":
    app()
