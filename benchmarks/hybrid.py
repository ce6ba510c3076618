"""Hybrid mode measured: live against enhanced, and what enhancement costs the live sessions.

1. Quality: each clip (espeak, and the real-speech set's recordings with a text under 70 s or of
   several voices, ``benchmarks/real_speech_set.py``) is streamed at real-time pace with
   ``store_audio``, ``enhance_on_end`` and ``enhance_wait``; the live finals and the enhanced
   transcript pushed on the same socket are scored against the script (WER), the enhanced speakers
   (segments and the second voice of each overlap) against the ground truth (DER).
2. Time to the enhanced transcript: sessions of 1, 5 and 10 minutes (streamed as fast as the
   server reads, then ``end``): seconds from ``session.end`` to ``enhancement.completed``, alone and
   while 4 live sessions stream the realtime benchmark's conversation at real-time pace; those live
   sessions' first-partial and final latencies against the same 4 sessions with nothing else running.

Writes ``benchmarks/results/hybrid.json``.

    python -m benchmarks.hybrid [--quick]      # --quick: one clip, a 1-minute session
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import numpy as np
import typer

from benchmarks.conversations import Turn, der, make_conversation
from benchmarks.live_scoring import percentiles, utterance_latencies
from benchmarks.live_sessions import run_sessions
from benchmarks.real_speech_set import full_set
from benchmarks.run_facts import run_facts
from benchmarks.speech import SAMPLE_RATE, benchmark_clip, word_error_rate
from clients.stream_client import encode_audio, stream_audio, stream_url
from core.protocol import AudioEncoding, EnhancementCompleted, SessionEnd, TranscriptFinal
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "hybrid.json"


async def measure_clip(ws_url: str, name: str, audio, reference_text: str, reference_turns, voices: int) -> dict:
    query = {"store_audio": True, "enhance_on_end": True, "enhance_wait": True, "word_timestamps": True}
    result = await stream_audio(
        stream_url(ws_url, query),
        encode_audio(audio, AudioEncoding.PCM_S16LE),
        bytes_per_second=SAMPLE_RATE * 2,
        speed=1.0,
        reply_timeout_s=1800,
    )
    live_text = " ".join(final.text for final in result.of_type(TranscriptFinal))
    ended = next(m.received_at for m in result.messages if isinstance(m.message, SessionEnd))
    completed = next(m for m in result.messages if isinstance(m.message, EnhancementCompleted))
    transcript = completed.message.transcript
    hypothesis = [Turn(segment.speaker, segment.start, segment.end) for segment in transcript.segments]
    hypothesis += [Turn(overlap.speakers[1], overlap.start, overlap.end) for overlap in transcript.overlaps]
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


async def time_to_enhanced(ws_url: str, audio, ended: asyncio.Event | None = None) -> float:
    """Stream ``audio`` as fast as the server reads it, ``end``; seconds from ``session.end`` to the result.

    ``ended`` is set when ``session.end`` arrives (the enhancement job is queued then).
    """
    query = {"store_audio": True, "enhance_on_end": True, "enhance_wait": True}

    def on_message(message) -> None:
        if ended is not None and isinstance(message, SessionEnd):
            ended.set()

    result = await stream_audio(
        stream_url(ws_url, query),
        encode_audio(audio, AudioEncoding.PCM_S16LE),
        bytes_per_second=SAMPLE_RATE * 2,
        speed=0.0,
        reply_timeout_s=3600,
        on_message=on_message,
    )
    ended = next(m.received_at for m in result.messages if isinstance(m.message, SessionEnd))
    completed = next(m.received_at for m in result.messages if isinstance(m.message, EnhancementCompleted))
    return round(completed - ended, 2)


async def live_latencies(ws_url: str, sessions: int = 4) -> dict:
    """First-partial and final p50/p95 of ``sessions`` live sessions on the realtime benchmark's clip."""
    clip = benchmark_clip(1)
    results = await run_sessions(ws_url, clip, sessions)
    latencies = [latency for result in results for latency in utterance_latencies(result, clip.utterances)]
    return {
        "first_partial": percentiles(latency.first_partial_s for latency in latencies),
        "final": percentiles(latency.final_s for latency in latencies),
    }


async def under_live_load(ws_url: str, audio) -> tuple[float, dict]:
    """The enhancement of ``audio`` while 4 live sessions stream; (time to enhanced, their latencies).

    The live sessions start when the long session has ended (its own live decoding is over), so
    they overlap its enhancement job and nothing else.
    """
    ended = asyncio.Event()
    enhancement = asyncio.create_task(time_to_enhanced(ws_url, audio, ended))
    await ended.wait()
    live = await live_latencies(ws_url)
    return await enhancement, live


def long_session(minutes: float):
    """About ``minutes`` of two-voice meetings, one after another."""
    pieces, seconds, seed = [], 0.0, 100
    while seconds < minutes * 60:
        meeting = make_conversation(2, seed=seed)
        pieces.append(meeting.audio)
        seconds += meeting.duration_s
        seed += 1
    return np.concatenate(pieces)[: int(minutes * 60 * SAMPLE_RATE)]


def clips(quick: bool) -> list[tuple[str, object, str, list, int]]:
    speech = benchmark_clip(1)  # the realtime benchmark's audio
    speech_turns = [Turn(u.voice, u.speech_start_s, u.speech_end_s) for u in speech.utterances]
    result = [("realtime benchmark conversation", speech.audio, speech.text, speech_turns, 2)]
    if not quick:
        for voices in (3, 4):
            meeting = make_conversation(voices, seed=10 + voices)
            text = " ".join(word.text for word in meeting.words)
            result.append((f"{voices}-voice meeting", meeting.audio, text, list(meeting.turns), voices))
        for recording in full_set():  # real voices: the recordings with a text (the radio pair has none)
            if recording.text is not None and (len(recording.speakers) > 1 or recording.duration_s < 70):
                voices = len(recording.speakers)
                result.append((f"real: {recording.name}", recording.audio, recording.text, recording.turns, voices))
    return result


def main(quick: bool = typer.Option(False, help="Only the realtime benchmark's conversation.")) -> None:
    """Stream each clip live with enhancement and compare the two transcripts."""
    rows, durations = [], []
    with tempfile.TemporaryDirectory() as work:
        triton = TritonServer(PROJECT_ROOT / "model_repository", Path(work) / "triton")
        triton.start()
        server = ServeProcess(Path(work) / "server", triton.endpoints.grpc_url, TANDEM_WORKERS="1")
        try:
            for name, audio, text, turns, voices in clips(quick):
                rows.append(asyncio.run(measure_clip(server.ws_url, name, audio, text, turns, voices)))
                print(rows[-1], flush=True)
            baseline = asyncio.run(live_latencies(server.ws_url))
            for minutes in (1,) if quick else (1, 5, 10):
                audio = long_session(minutes)
                alone = asyncio.run(time_to_enhanced(server.ws_url, audio))
                loaded, live = asyncio.run(under_live_load(server.ws_url, audio))
                durations.append(_duration_row(minutes, alone, loaded, baseline, live))
                print(durations[-1], flush=True)
        finally:
            server.stop()
            triton.stop()
    report = {
        **run_facts(),
        "clips": rows,
        "live_alone": baseline if durations else None,
        "sessions": durations,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("| clip | audio (s) | live WER | enhanced WER | speakers found / true | DER | session.end → enhanced (s) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['clip']} | {row['audio_s']} | {row['live_wer']} | {row['enhanced_wer']} | "
            f"{row['speakers_found']} / {row['voices']} | {row['der']} | {row['session_end_to_enhanced_s']} |"
        )
    print()
    print(
        "| session | end → enhanced alone (s) | with 4 live sessions (s) | live first partial p50/p95 (s): alone → "
        "during enhancement | live final p50/p95 (s): alone → during | worst p95 change |"
    )
    print("|---|---|---|---|---|---|")
    for row in durations:
        print(
            f"| {row['minutes']} min | {row['alone_s']} | {row['with_live_s']} | {row['first_partial']} | "
            f"{row['final']} | {row['worst_p95_change_percent']:+.0f} % |"
        )


def _duration_row(minutes: float, alone: float, loaded: float, baseline: dict, live: dict) -> dict:
    def pair(summary: dict) -> str:
        return f"{summary['p50']} / {summary['p95']}"

    changes = [
        100 * (live[kind]["p95"] - baseline[kind]["p95"]) / baseline[kind]["p95"] for kind in ("first_partial", "final")
    ]
    return {
        "minutes": minutes,
        "alone_s": alone,
        "with_live_s": loaded,
        "first_partial": f"{pair(baseline['first_partial'])} → {pair(live['first_partial'])}",
        "final": f"{pair(baseline['final'])} → {pair(live['final'])}",
        "live_during_enhancement": live,
        "worst_p95_change_percent": round(max(changes), 1),
    }


if __name__ == "__main__":
    typer.run(main)
