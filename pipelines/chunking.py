"""Cutting a long recording into chunks Whisper can hear at once (at most ~30 s), at pauses."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipelines.job_state import SpeechRegion


def plan_chunks(
    regions: Sequence[SpeechRegion], duration_s: float, max_chunk_s: float = 30.0
) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of each chunk, in order, each at most ``max_chunk_s`` long.

    A chunk runs from its first speech region's start to its last one's end. Of the plans with the
    fewest chunks, the one whose cuts lie in the most silence (the longest pauses) is chosen.
    Speech is cut only where one region alone is longer than ``max_chunk_s`` (into equal pieces).
    """
    spans = [(max(0.0, r.start), min(duration_s, r.end)) for r in regions]
    pieces = [piece for start, end in spans if end > start for piece in _split_region(start, end, max_chunk_s)]
    return _cut_at_pauses(pieces, max_chunk_s)


def _split_region(start_s: float, end_s: float, max_chunk_s: float) -> list[tuple[float, float]]:
    count = math.ceil((end_s - start_s) / max_chunk_s - 1e-9)
    step_s = (end_s - start_s) / count
    return [(start_s + i * step_s, end_s if i == count - 1 else start_s + (i + 1) * step_s) for i in range(count)]


def _cut_at_pauses(pieces: list[tuple[float, float]], max_chunk_s: float) -> list[tuple[float, float]]:
    """Fewest chunks first, then the most pause at the cuts (dynamic programming over cut points)."""
    # best[i]: (chunks, -pause at cuts) of the best plan for pieces[:i], and where its last chunk starts
    best: list[tuple[tuple[int, float], int]] = [((0, 0.0), 0)]
    for end in range(1, len(pieces) + 1):
        options = []
        for first in range(end - 1, -1, -1):
            if pieces[end - 1][1] - pieces[first][0] > max_chunk_s + 1e-9:
                break
            pause_s = pieces[first][0] - pieces[first - 1][1] if first else 0.0
            (chunks, cost), _ = best[first]
            options.append(((chunks + 1, cost - pause_s), first))
        best.append(min(options))
    chunks: list[tuple[float, float]] = []
    end = len(pieces)
    while end:
        first = best[end][1]
        chunks.append((pieces[first][0], pieces[end - 1][1]))
        end = first
    return chunks[::-1]
