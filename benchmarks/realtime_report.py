"""Tables and plot of ``benchmarks/realtime.py``'s reports (JSON in, markdown / rich / PNG out)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.table import Table

from benchmarks.figures import pyplot, save_figure

FIRST_PARTIAL_TARGET_S = 0.5
FINAL_TARGET_S = 0.5
"""SPEC: final ≤ 0.5 s after speech end, plus the VAD silence window (reported separately)."""

# ANCHORS.md: WhisperLive 0.10.0 defaults, same model, same machine kind (p50, p95 in seconds).
PEER_WHISPERLIVE = {
    "label": "WhisperLive 0.10.0 (ANCHORS.md)",
    "sessions": [1, 2, 4],
    "first_partial": [(1.44, 1.98), (2.19, 4.19), (3.45, 9.70)],
    "final": [(2.69, 7.54), (3.74, 13.45), (7.25, 28.38)],
}


def _pair(summary: dict) -> str:
    if summary.get("p50") is None:
        return "–"
    text = f"{summary['p50']:.2f} / {summary['p95']:.2f}"
    if summary.get("missing"):
        text += f" ({summary['missing']} missing)"
    return text


def _asr_metrics(report: dict, level: dict) -> dict:
    """Triton's figures of the live profile's model in one level."""
    return level["triton"][report["settings"].get("triton_model", "streaming_asr")]


def markdown_table(report: dict) -> str:
    """The README table: one row per concurrency level."""
    lines = [
        "| sessions | first partial p50 / p95 (s) | final p50 / p95 (s) | final − silence window p50 / p95 (s) "
        "| WER | revisions per final word | avg batch ASR / VAD | ASR queue + compute per request (ms) "
        "| CPU system % (cores: Triton / control plane / other) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for level in report["levels"]:
        asr, vad = _asr_metrics(report, level), level["triton"]["vad"]
        cpu = level["cpu"]
        lines.append(
            f"| {level['sessions']} | {_pair(level['first_partial_s'])} | {_pair(level['final_s'])} "
            f"| {_pair(level['final_minus_silence_window_s'])} | {level['wer_mean']:.2f} "
            f"| {level.get('revisions_per_final_word')} "
            f"| {asr['avg_batch']} / {vad['avg_batch']} "
            f"| {asr['queue_ms_per_request']} + {asr['compute_ms_per_request']} "
            f"| {cpu['system_percent']:.0f} ({cpu['triton_cpu_s_per_s']:.2f} / {cpu['control_plane_cpu_s_per_s']:.2f}"
            f" / {cpu.get('other_cpu_s_per_s', float('nan')):.2f}) |"
        )
    return "\n".join(lines)


def rich_table(report: dict) -> Table:
    table = Table(title=f"Tandem real-time ({report['machine']['model']}, {report['machine']['cpu_count']} CPUs)")
    for column in (
        "sessions",
        "first partial p50/p95",
        "final p50/p95",
        "final−silence p50/p95",
        "WER",
        "revisions/final word",
        "batch ASR/VAD",
        "ASR queue+compute ms",
        "CPU %",
    ):
        table.add_column(column, justify="right")
    for level in report["levels"]:
        asr, vad = _asr_metrics(report, level), level["triton"]["vad"]
        table.add_row(
            str(level["sessions"]),
            _pair(level["first_partial_s"]),
            _pair(level["final_s"]),
            _pair(level["final_minus_silence_window_s"]),
            f"{level['wer_mean']:.2f}",
            str(level.get("revisions_per_final_word")),
            f"{asr['avg_batch']} / {vad['avg_batch']}",
            f"{asr['queue_ms_per_request']} + {asr['compute_ms_per_request']}",
            f"{level['cpu']['system_percent']:.0f}",
        )
    return table


def plot(report: dict, path: Path) -> None:
    plt = pyplot()

    levels = report["levels"]
    sessions = [level["sessions"] for level in levels]
    silence = report["settings"]["vad_min_silence_s"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), sharex=True)

    def series(key: str, stat: str) -> list[float]:
        return [np.nan if level[key][stat] is None else level[key][stat] for level in levels]

    left.plot(sessions, series("first_partial_s", "p50"), "o-", color="tab:blue", label="p50")
    left.plot(sessions, series("first_partial_s", "p95"), "s--", color="tab:blue", label="p95")
    left.axhline(FIRST_PARTIAL_TARGET_S, color="tab:red", lw=1, label=f"target {FIRST_PARTIAL_TARGET_S} s")
    left.set_title("First partial after speech start")

    right.plot(sessions, series("final_s", "p50"), "o-", color="tab:green", label="p50")
    right.plot(sessions, series("final_s", "p95"), "s--", color="tab:green", label="p95")
    right.plot(
        sessions,
        series("final_minus_silence_window_s", "p50"),
        "^:",
        color="tab:olive",
        label=f"p50 − VAD silence window ({silence} s)",
    )
    right.axhline(
        FINAL_TARGET_S + silence,
        color="tab:red",
        lw=1,
        label=f"target {FINAL_TARGET_S} s + silence window = {FINAL_TARGET_S + silence:.1f} s",
    )
    right.axhline(FINAL_TARGET_S, color="tab:red", lw=1, ls=":", label=f"target {FINAL_TARGET_S} s (without window)")
    right.set_title("Final after speech end")

    peer = PEER_WHISPERLIVE
    for axis, key in ((left, "first_partial"), (right, "final")):
        rows = "\n".join(
            f"{n} client{'s' if n > 1 else ''}: {p50:.2f} / {p95:.2f} s"
            for n, (p50, p95) in zip(peer["sessions"], peer[key])
        )
        axis.text(
            0.98,
            0.97,
            f"{peer['label']}, p50 / p95:\n{rows}",
            transform=axis.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="dimgrey",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "lightgrey"},
        )

    values = [v for v in series("final_s", "p95") + series("first_partial_s", "p95") if not np.isnan(v)]
    top = max([1.2, *values]) * 1.5  # headroom for the legend and the peer's figures
    for axis in (left, right):
        axis.set_xscale("log", base=2)
        axis.set_xticks(sessions, [str(s) for s in sessions])
        axis.set_xlabel("concurrent sessions (lockstep, real-time pace)")
        axis.set_ylabel("seconds")
        axis.set_ylim(0, top)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    machine = report["machine"]
    save_figure(
        figure,
        path,
        f"Tandem live latency — {machine['model']} on {machine['cpu_count']} CPU cores ({machine['cpu_model']}), "
        f"{report['clip']['utterances_per_session']} utterances per session, {machine['date'][:10]}",
    )


def side_by_side_table(report: dict) -> str:
    """Tandem and its peer on the same audio in one sitting (the README's comparison table)."""
    name = report.get("peer", {}).get("name", "peer").split(" ")[0]
    lines = [
        f"| sessions | first partial p50 / p95 (s), {name} | Tandem | final p50 / p95 (s), {name} | Tandem "
        f"| WER {name} / Tandem | revisions per final word {name} / Tandem | load average (1 min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level in report["levels"]:
        other = level.get("peer", {})
        refused = f" ({other['refused_sessions']} refused)" if other.get("refused_sessions") else ""
        peer_wer = f"{other['wer_mean']:.2f}" if "wer_mean" in other else "–"
        load = level.get("load_average")
        lines.append(
            f"| {level['sessions']} | {_pair(other.get('first_partial_s', {}))}{refused} "
            f"| {_pair(level['first_partial_s'])} "
            f"| {_pair(other.get('final_s', {}))} | {_pair(level['final_s'])} "
            f"| {peer_wer} / {level['wer_mean']:.2f} "
            f"| {other.get('revisions_per_final_word', '–')} / {level['revisions_per_final_word']} "
            f"| {'?' if load is None else f'{load[0]:.1f}'} |"
        )
    return "\n".join(lines)


def per_voice_table(report: dict) -> str:
    """WER and first partial of each voice at the lowest level (and the peer's, when it ran)."""
    level = report["levels"][0]
    peer = level.get("peer", {}).get("per_voice", {})
    name = report.get("peer", {}).get("name", "peer").split(" ")[0]
    lines = [
        f"| voice (speaking rate) | WER Tandem{f' / {name}' if peer else ''} "
        f"| first partial p50 / p95 (s), Tandem{f' | {name}' if peer else ''} |",
        "|---|---|---|" + ("---|" if peer else ""),
    ]
    for voice, own in level.get("per_voice", {}).items():
        other = peer.get(voice, {})
        wer = f"{own['wer']:.2f}" + (f" / {other['wer']:.2f}" if other else (" / –" if peer else ""))
        row = f"| {voice} | {wer} | {_pair(own['first_partial_s'])}"
        if peer:
            row += f" | {_pair(other.get('first_partial_s', {}))}"
        lines.append(row + " |")
    return "\n".join(lines)


def profiles_table(reports: Sequence[dict]) -> str:
    """Live profiles side by side (one report per profile): latency, WER and Triton's CPU per level."""
    lines = [
        "| profile | sessions | first partial p50 / p95 (s) | final p50 / p95 (s) | WER | revisions per final word "
        "| Triton CPU (cores) |",
        "|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        model = report["settings"].get("model") or report["machine"]["model"]
        for level in report["levels"]:
            lines.append(
                f"| {model} | {level['sessions']} | {_pair(level['first_partial_s'])} | {_pair(level['final_s'])} "
                f"| {level['wer_mean']:.3f} | {level.get('revisions_per_final_word')} "
                f"| {level['cpu']['triton_cpu_s_per_s']:.2f} |"
            )
    return "\n".join(lines)
