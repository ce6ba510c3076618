"""The batch benchmark's figure and README table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.batch_jobs import STAGES
from benchmarks.figures import pyplot, save_figure


def plot(report: dict, path: Path) -> None:
    plt = pyplot()

    levels = report["levels"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = [f"{lv['audio_s'] / 60:.0f} min × {lv['jobs']}" for lv in levels]
    bottom = np.zeros(len(levels))
    for stage in STAGES:
        values = np.array([lv["rtf_stage_mean"].get(stage, 0.0) for lv in levels])
        left.bar(labels, values, bottom=bottom, label=stage)
        bottom += values
    left.plot(labels, [lv["rtf_end_to_end_mean"] or np.nan for lv in levels], "k^", label="end to end (wall)")
    baseline = report.get("faster_whisper")
    if baseline:
        left.axhline(baseline["rtf"], color="gray", linestyle="--", label="plain faster-whisper")
    left.set_ylabel("real-time factor (lower is better)")
    left.set_title("RTF per stage (job records) and end to end")
    left.legend(fontsize=8)
    left.tick_params(axis="x", rotation=30)
    right.bar(labels, [lv["jobs_per_minute"] for lv in levels], color="tab:green")
    right.set_ylabel("jobs per minute")
    right.set_title("throughput")
    right.tick_params(axis="x", rotation=30)
    machine_info = report["machine"]
    save_figure(
        figure,
        path,
        f"Tandem batch jobs (diarize, {report['settings']['batch_asr_model']}) — {machine_info['cpu_count']} cores "
        f"{machine_info['cpu_model']}, shared machine, {machine_info['date'][:10]}",
    )


def number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def failed_note(level: dict) -> str:
    return f" ({level['failed']} failed)" if level.get("failed") else ""


def markdown_table(report: dict) -> str:
    rows = [
        "| audio | jobs | RTF end to end | transcribe | diarize | other stages | jobs/min | WER "
        "| peak RSS Triton / workers (MB) | load avg (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in report["levels"]:
        stages = lv["rtf_stage_mean"]
        other = sum(v for k, v in stages.items() if k not in ("transcribe", "diarize"))
        rows.append(
            f"| {lv['audio_s'] / 60:.1f} min | {lv['jobs']}{failed_note(lv)} | {number(lv['rtf_end_to_end_mean'])} | "
            f"{stages.get('transcribe', 0):.3f} | {stages.get('diarize', 0):.3f} | {other:.3f} | "
            f"{lv['jobs_per_minute']:.2f} | {number(lv['wer_mean'])} | "
            f"{lv['peak_rss_mb']['triton']:.0f} / {lv['peak_rss_mb']['workers']:.0f} | "
            f"{lv['load_average_before'][0]:.1f} → {lv['load_average_after'][0]:.1f} |"
        )
    return "\n".join(rows)
