"""Plain faster-whisper on the same audio as the pipeline, and the pipeline's time as ratios to it."""

from __future__ import annotations

import os
import time

from benchmarks.meetings import Meeting
from benchmarks.speech import word_error_rate


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded to 3 digits; ``None`` when either is missing or zero."""
    return round(numerator / denominator, 3) if numerator and denominator else None


def faster_whisper_baseline(
    meeting: Meeting, model_path: str, *, cpu_threads: int = 2, compute_type: str = "int8"
) -> dict:
    """Plain faster-whisper on the whole recording: load excluded, decode + word timestamps timed."""
    from faster_whisper import WhisperModel

    from launchers.triton_server import model_weights_path

    model = WhisperModel(
        model_weights_path(model_path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads
    )
    load_before = os.getloadavg()
    started = time.monotonic()
    segments, _ = model.transcribe(meeting.audio, word_timestamps=True, beam_size=5)
    text = " ".join(segment.text.strip() for segment in segments)
    wall_s = time.monotonic() - started
    return {
        "audio_s": round(meeting.duration_s, 1),
        "wall_s": round(wall_s, 2),
        "rtf": round(wall_s / meeting.duration_s, 4),
        "wer": round(word_error_rate(meeting.text, text), 4),
        "load_average_before": [round(x, 2) for x in load_before],
    }


def pipeline_vs_baseline(level: dict, baseline: dict) -> dict:
    """Where a single job's time goes, as ratios to plain faster-whisper's RTF on the same audio."""
    stages = level["rtf_stage_mean"]
    end_to_end = level["rtf_end_to_end_mean"]
    return {
        "audio_s": level["audio_s"],
        "end_to_end": ratio(end_to_end, baseline["rtf"]),
        "transcribe_stage": ratio(stages.get("transcribe"), baseline["rtf"]),
        "diarize_stage": ratio(stages.get("diarize"), baseline["rtf"]),
        "queue_and_other": ratio(end_to_end - sum(stages.values()), baseline["rtf"]) if end_to_end else None,
    }


def add_baselines(report: dict, meetings: dict[float, Meeting], model_path: str) -> None:
    """Plain faster-whisper on each single-job level's audio, and the pipeline / faster-whisper ratios."""
    report["faster_whisper_by_length"] = []
    report["pipeline_over_faster_whisper"] = []
    for level in report["levels"]:
        if level["jobs"] != 1:
            continue
        meeting = meetings[min(meetings, key=lambda s: abs(s - level["audio_s"]))]
        baseline = faster_whisper_baseline(meeting, model_path)
        report["faster_whisper_by_length"].append(baseline)
        report["pipeline_over_faster_whisper"].append(pipeline_vs_baseline(level, baseline))
    report["faster_whisper"] = report["faster_whisper_by_length"][-1]
