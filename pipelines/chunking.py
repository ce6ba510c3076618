"""Cutting a long recording into chunks Whisper can hear at once (at most ~30 s), at pauses."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipelines.job_state import SpeechRegion


def plan_chunks(
    regions: Sequence[SpeechRegion], duration_s: float, max_chunk_s: float = 30.0
) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of each chunk, in order, each at most ``max_chunk_s`` long.

    A chunk runs from its first speech region's start to its last one's end. A stretch of regions
    too long for one chunk is cut at its longest pause (of near-equal pauses, the one nearest the
    middle), recursively; speech is cut only where one region alone is longer than ``max_chunk_s``
    (then into equal pieces).
    """
    spans = [(max(0.0, r.start), min(duration_s, r.end)) for r in regions]
    pieces = [piece for start, end in spans if end > start for piece in _split_region(start, end, max_chunk_s)]
    return _cut_at_pauses(pieces, max_chunk_s)


def _split_region(start_s: float, end_s: float, max_chunk_s: float) -> list[tuple[float, float]]:
    count = math.ceil((end_s - start_s) / max_chunk_s - 1e-9)
    step_s = (end_s - start_s) / count
    return [(start_s + i * step_s, end_s if i == count - 1 else start_s + (i + 1) * step_s) for i in range(count)]


def _cut_at_pauses(pieces: list[tuple[float, float]], max_chunk_s: float) -> list[tuple[float, float]]:
    if not pieces:
        return []
    start_s, end_s = pieces[0][0], pieces[-1][1]
    if end_s - start_s <= max_chunk_s:
        return [(start_s, end_s)]
    middle_s = (start_s + end_s) / 2

    def score(cut: int) -> tuple[float, float]:
        pause_s = pieces[cut][0] - pieces[cut - 1][1]
        return round(pause_s, 1), -abs((pieces[cut - 1][1] + pieces[cut][0]) / 2 - middle_s)

    cut = max(range(1, len(pieces)), key=score)
    return _cut_at_pauses(pieces[:cut], max_chunk_s) + _cut_at_pauses(pieces[cut:], max_chunk_s)
