"""Scoring of live speaker labels against a conversation's true speakers (used by the tests and benchmarks).

Each reference word takes the label of the hypothesis span (a labelled word of a final, or a whole
final when it has no words) that overlaps it most, or the nearest one within ``max_distance_s``
of its middle; reference words with no span near are ``unlabelled`` (the ASR missed them). Labels
map one-to-one onto true speakers to agree on the most words (Hungarian assignment); a word is
right when its label maps to its speaker. Extra labels (a speaker split in two) map to nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from benchmarks.conversations import SpokenWord
from core.protocol import TranscriptFinal


@dataclass(frozen=True)
class LabelledSpan:
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class SpeakerScore:
    accuracy: float
    """Right words / labelled reference words."""
    labelled_words: int
    unlabelled_words: int
    speakers_found: int
    speakers_true: int


def labelled_spans(finals: Sequence[TranscriptFinal]) -> list[LabelledSpan]:
    """The labelled words of the finals (a final without words counts as one span)."""
    spans = []
    for final in finals:
        if final.words:
            spans.extend(LabelledSpan(w.start, w.end, w.speaker or "") for w in final.words)
        else:
            spans.append(LabelledSpan(final.start, final.end, final.speaker or ""))
    return spans


def score_speakers(
    finals: Sequence[TranscriptFinal], truth: Sequence[SpokenWord], *, max_distance_s: float = 0.5
) -> SpeakerScore:
    """Word-speaker accuracy of live ``finals`` against the reference words ``truth``."""
    spans = labelled_spans(finals)
    labels = sorted({span.speaker for span in spans})
    speakers = sorted({word.speaker for word in truth})
    counts = np.zeros((len(labels), len(speakers)), dtype=int)
    unlabelled = 0
    for word in truth:
        span = _best_span(spans, word, max_distance_s)
        if span is None:
            unlabelled += 1
            continue
        counts[labels.index(span.speaker), speakers.index(word.speaker)] += 1
    rows, columns = linear_sum_assignment(-counts) if counts.size else ([], [])
    right = int(counts[rows, columns].sum()) if counts.size else 0
    labelled = int(counts.sum())
    return SpeakerScore(
        accuracy=round(right / labelled, 4) if labelled else 0.0,
        labelled_words=labelled,
        unlabelled_words=unlabelled,
        speakers_found=len([label for label in labels if label]),
        speakers_true=len(speakers),
    )


def _best_span(spans: list[LabelledSpan], word: SpokenWord, max_distance_s: float) -> LabelledSpan | None:
    best, best_overlap = None, 0.0
    for span in spans:
        overlap = min(span.end, word.end) - max(span.start, word.start)
        if overlap > best_overlap:
            best, best_overlap = span, overlap
    if best is not None:
        return best
    middle = (word.start + word.end) / 2
    nearest = min(spans, key=lambda s: abs((s.start + s.end) / 2 - middle), default=None)
    if nearest is None or abs((nearest.start + nearest.end) / 2 - middle) > max_distance_s:
        return None
    return nearest
