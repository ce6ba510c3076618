"""Hybrid mode measured: the live transcript against the enhanced one, on the same streamed audio.

Each clip is streamed at real-time pace with ``store_audio``, ``enhance_on_end`` and
``enhance_wait``; the live finals and the enhanced transcript pushed on the same socket are scored
against the script (WER), the enhanced speakers against the ground truth (DER), and the time from
``session.end`` to ``enhancement.completed`` is kept. Writes ``benchmarks/results/hybrid.json``.

    python -m benchmarks.hybrid [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import typer

from benchmarks.conversations import Turn, der, make_conversation
from benchmarks.realtime import ControlPlane, benchmark_clip
from benchmarks.speech import SAMPLE_RATE, word_error_rate
from control_plane.protocol import AudioEncoding, EnhancementCompleted, SessionEnd, TranscriptFinal
from control_plane.stream_client import encode_audio, stream_audio, stream_url
from control_plane.triton_server import TritonServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "hybrid.json"


async def measure_clip(ws_url: str, name: str, audio, reference_text: str, reference_turns, voices: int) -> dict:
    query = {"store_audio": True, "enhance_on_end": True, "enhance_wait": True, "word_timestamps": True}
    result = await stream_audio(
        stream_url(ws_url, query), encode_audio(audio, AudioEncoding.PCM_S16LE),
        bytes_per_second=SAMPLE_RATE * 2, speed=1.0, reply_timeout_s=1800,
    )
    live_text = " ".join(final.text for final in result.of_type(TranscriptFinal))
    ended = next(m.received_at for m in result.messages if isinstance(m.message, SessionEnd))
    completed = next(m for m in result.messages if isinstance(m.message, EnhancementCompleted))
    transcript = completed.message.transcript
    hypothesis = [Turn(segment.speaker, segment.start, segment.end) for segment in transcript.segments]
    return {
        "clip": name,
        "audio_s": round(len(audio) / SAMPLE_RATE, 1),
        "voices": voices,
        "live_wer": round(word_error_rate(reference_text, live_text), 4),
        "enhanced_wer": round(word_error_rate(reference_text, transcript.text), 4),
        "speakers_found": len(transcript.speakers),
        "der": round(der(reference_turns, hypothesis), 4),
        "session_end_to_enhanced_s": round(completed.received_at - ended, 2),
    }


def clips(quick: bool) -> list[tuple[str, object, str, list, int]]:
    speech = benchmark_clip(1)  # the realtime benchmark's audio
    speech_turns = [Turn(u.voice, u.speech_start_s, u.speech_end_s) for u in speech.utterances]
    result = [("realtime benchmark conversation", speech.audio, speech.text, speech_turns, 2)]
    if not quick:
        for voices in (3, 4):
            meeting = make_conversation(voices, seed=10 + voices)
            text = " ".join(word.text for word in meeting.words)
            result.append((f"{voices}-voice meeting", meeting.audio, text, list(meeting.turns), voices))
    return result


def main(quick: bool = typer.Option(False, help="Only the realtime benchmark's conversation.")) -> None:
    """Stream each clip live with enhancement and compare the two transcripts."""
    rows = []
    with tempfile.TemporaryDirectory() as work:
        triton = TritonServer(PROJECT_ROOT / "model_repository", Path(work) / "triton")
        triton.start()
        server = ControlPlane(Path(work) / "server", triton.endpoints, TANDEM_WORKERS="1")
        try:
            for name, audio, text, turns, voices in clips(quick):
                rows.append(asyncio.run(measure_clip(server.ws_url, name, audio, text, turns, voices)))
                print(rows[-1], flush=True)
        finally:
            server.stop()
            triton.stop()
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_1m": round(os.getloadavg()[0], 2),
        "clips": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("| clip | audio (s) | live WER | enhanced WER | speakers found / true | DER | session.end → enhanced (s) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['clip']} | {row['audio_s']} | {row['live_wer']} | {row['enhanced_wer']} | "
              f"{row['speakers_found']} / {row['voices']} | {row['der']} | {row['session_end_to_enhanced_s']} |")


if __name__ == "__main__":
    typer.run(main)
