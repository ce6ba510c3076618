"""Diarization's speech regions: the VAD's thresholds swept on real and espeak speech.

Per recording of the real-speech set (``benchmarks/real_speech_set.py``) and espeak meetings of 2, 3
and 4 voices (six seeds each): one pass of the Triton VAD and one transcription (at transcription's
thresholds, without the soft turns a job adds, so that only diarization's regions change), then per
(speech, silence) threshold pair the diarization regions,
diarization with the count unknown and given, the overlapped-speech step and the merge. Reports
single speakers found as one, counts right, DER (pyannote.metrics, collar 0.25 s, with the overlaps'
second voice) and words on the right speaker. Results go to ``benchmarks/results/diarization_regions.json``.

    python -m benchmarks.diarization_regions
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.conversations import der
from benchmarks.diarization_windows import recordings
from benchmarks.real_speech import words_on_right_speaker
from benchmarks.run_facts import run_facts
from core.inference import InferenceClient
from launchers.triton_server import TritonServer
from pipelines.diarization import diarize
from pipelines.job_state import SpeakerCountHint
from pipelines.merge import merge_transcript
from pipelines.overlaps import overlapped_speech, second_speakers
from pipelines.speech_regions import TRANSCRIPTION_REGIONS, SpeechRegionOptions, search_speech
from pipelines.transcribe import transcribe_audio

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "diarization_regions.json"
THRESHOLDS = ((0.5, 0.35), (0.4, 0.3), (0.35, 0.3), (0.35, 0.25), (0.3, 0.3), (0.3, 0.25), (0.25, 0.25))
"""(speech, silence) pairs; the first is transcription's."""


async def _rows(client: InferenceClient, recording: tuple) -> list[dict]:
    """One row per threshold pair for ``recording``."""
    name, kind, audio, turns, speakers = recording
    search = await search_speech(audio, client)
    transcription_regions = search.regions(TRANSCRIPTION_REGIONS)
    words = None
    if speakers > 1:
        words = await transcribe_audio(audio, client, language="en", speech_regions=transcription_regions)
    rows = []
    for speech, silence in THRESHOLDS:
        regions = search.regions(SpeechRegionOptions(speech_threshold=speech, silence_threshold=silence))
        unknown = await diarize(audio, regions, client, SpeakerCountHint())
        row = {
            "recording": name,
            "kind": kind,
            "thresholds": f"{speech}/{silence}",
            "speakers_true": speakers,
            "speakers_found": unknown.num_speakers,
            "speech_s": round(sum(r.end - r.start for r in regions), 2),
        }
        if words is not None:
            stretches = await overlapped_speech(audio, regions, client)
            overlaps = second_speakers(unknown.turns, stretches) if unknown.num_speakers > 1 else []
            given = await diarize(audio, regions, client, SpeakerCountHint(num_speakers=speakers))
            merged = merge_transcript(
                words, unknown.turns, overlaps=overlaps, language="en", duration_s=search.duration_s,
                speech_regions=transcription_regions,
            )  # fmt: skip
            placed = [{"start": w.start, "end": w.end, "speaker": w.speaker} for w in merged.transcript.words]
            row |= {
                "der_unknown": round(der(turns, unknown.turns + overlaps), 4),
                "der_given": round(der(turns, given.turns + second_speakers(given.turns, stretches)), 4),
                "words_on_right_speaker": round(words_on_right_speaker(turns, placed), 4),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per threshold pair: singles found as one, counts right, DER and words on the right speaker by kind."""
    summaries = []
    for speech, silence in THRESHOLDS:
        pair = f"{speech}/{silence}"

        def of(kind: str, key: str | None = None, pair: str = pair) -> list:
            return [r if key is None else r[key] for r in rows if r["thresholds"] == pair and r["kind"] == kind]

        def right(kind: str) -> str:
            return f"{sum(r['speakers_found'] == r['speakers_true'] for r in of(kind))}/{len(of(kind))}"

        summaries.append(
            {
                "thresholds": pair,
                "single_found_one": right("single"),
                "real_count_right": right("real"),
                "real_der_unknown_mean": round(float(np.mean(of("real", "der_unknown"))), 4),
                "real_der_unknown_max": round(max(of("real", "der_unknown")), 4),
                "real_words_on_right_speaker": round(float(np.mean(of("real", "words_on_right_speaker"))), 4),
                "espeak_count_right": right("espeak"),
                "espeak_der_unknown_mean": round(float(np.mean(of("espeak", "der_unknown"))), 4),
                "espeak_der_unknown_max": round(max(of("espeak", "der_unknown")), 4),
            }
        )
    return summaries


async def _run(grpc_url: str) -> list[dict]:
    client = InferenceClient(grpc_url, timeout_s=600)
    try:
        return [row for recording in recordings(radio=True) for row in await _rows(client, recording)]
    finally:
        await client.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as work, TritonServer(ROOT / "model_repository", Path(work)) as triton:
        rows = asyncio.run(_run(triton.endpoints.grpc_url))
    summaries = summary(rows)
    for line in summaries:
        print(json.dumps(line))
    report = run_facts() | {"collar_s": 0.25, "summary": summaries, "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
