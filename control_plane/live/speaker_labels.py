"""Live speaker labels: online clustering of speaker embeddings, one final utterance at a time.

A final's audio is cut into windows of ``window_s`` every ``hop_s`` (a final shorter than a window
is one window of its speech, tiled); Triton's ``speaker_embedding`` model embeds them. The final is
split at each gap between words where the mean embeddings of the windows just before and just after
(within ``context_s``) are less similar than ``change_similarity``, most different first, at least
``min_turn_s`` apart; a split goes to the word gap that best separates the words leaning to either
side. Each part then joins the running speaker centroid it is most similar to when the cosine
reaches ``match_similarity`` (lower against a speaker heard in few windows), else it opens a new
speaker; a part with no whole window of its own (a back-channel, a short final) never opens one once
a speaker exists: it joins the closest. The best-heard part of a final goes first, so a speaker is
opened by a clear voice. Labels are ``S0``, ``S1``... in order of first appearance in
time; a label once given never changes (centroids move on, the past does not).

Thresholds tuned on the espeak meetings of ``benchmarks.conversations`` (CAM++ windows: one voice
0.78-0.95 against its own centroid, at most ~0.67 against another's; see ``benchmarks/live_speakers.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.audio.frames import MODEL_SAMPLE_RATE
from core.voiceprints import speech_only


@dataclass(frozen=True)
class SpeakerLabelOptions:
    window_s: float = 1.5
    """Embedding window (the diarization window: comparable embeddings, requests that batch together)."""
    hop_s: float = 0.75
    """Seconds between window starts (the last window of a final ends with it)."""
    change_similarity: float = 0.75
    """A final is split where the windows on either side are less similar than this."""
    match_similarity: float = 0.65
    """A part joins the most similar speaker at or above this cosine, else it opens a new one."""
    clear_match_similarity: float = 0.7
    """The same for a part of at least ``mature_windows`` whole windows (a clearer embedding)."""
    young_match_similarity: float = 0.6
    """The same against a speaker heard in fewer than ``mature_windows`` windows (a noisier centroid)."""
    mature_windows: int = 3
    """Whole windows that make a part well heard, or a speaker's centroid settled."""
    context_s: float = 3.0
    """A possible split compares the windows this far before it with those this far after it."""
    min_turn_s: float = 1.0
    """Splits of one final at least this far apart."""
    edge_slack_s: float = 0.15
    """A window counts as on one side of a split when it reaches at most this far past it."""
    max_speakers: int | None = None
    """No new speaker beyond this many (``num_speakers``/``max_speakers`` of the session)."""


@dataclass(frozen=True)
class Span:
    """Seconds from the start of the final's audio."""

    start: float
    end: float


@dataclass(frozen=True)
class LabelledPart:
    """A stretch of the final's audio said by one speaker (seconds from the start of its audio)."""

    start: float
    end: float
    speaker: str


def speaker_windows(audio: np.ndarray, options: SpeakerLabelOptions) -> tuple[list[Span], np.ndarray]:
    """The windows of a final's 16 kHz ``audio`` to embed: ``(spans, (n, window samples) float32)``."""
    window = int(round(options.window_s * MODEL_SAMPLE_RATE))
    if len(audio) < window:
        speech = speech_only(audio)
        speech = speech if len(speech) else audio
        tiled = np.resize(speech, window) if len(speech) else np.zeros(window, np.float32)
        return [Span(0.0, len(audio) / MODEL_SAMPLE_RATE)], tiled[None, :].astype(np.float32)
    hop = int(round(options.hop_s * MODEL_SAMPLE_RATE))
    starts = list(range(0, len(audio) - window + 1, hop))
    if starts[-1] + window < len(audio):
        starts.append(len(audio) - window)
    spans = [Span(s / MODEL_SAMPLE_RATE, (s + window) / MODEL_SAMPLE_RATE) for s in starts]
    return spans, np.stack([audio[s : s + window] for s in starts]).astype(np.float32)


class OnlineSpeakers:
    """The speakers of one live session so far: labels in order of first appearance, running centroids."""

    def __init__(self, options: SpeakerLabelOptions = SpeakerLabelOptions()) -> None:
        self.options = options
        self._sums: list[np.ndarray] = []
        """Per speaker: the sum of the part embeddings given to it (weighted by their windows)."""
        self._weights: list[int] = []
        """Per speaker: the windows its centroid is made of."""
        self._labels: dict[int, str] = {}
        """Speaker index → its label, numbered in order of first appearance in time."""

    @property
    def count(self) -> int:
        return len(self._sums)

    def label(
        self, windows: list[Span], embeddings: np.ndarray, words: list[Span], duration_s: float
    ) -> list[LabelledPart]:
        """Label one final: its parts in time order, covering ``[0, duration_s]``.

        ``windows`` and ``embeddings`` come from :func:`speaker_windows`; ``words`` are the final's
        word times (splits fall only between words; none or one word: one part).
        """
        units = _unit_rows(np.asarray(embeddings, dtype=np.float64))
        bounds = [0.0, *self._split_points(windows, units, words), duration_s]
        spans = list(zip(bounds[:-1], bounds[1:]))
        embedded = [self._part_embedding(windows, units, start, end) for start, end in spans]
        # the best-heard part first: a speaker is opened by a clear voice, the noisier parts then join it
        speakers: dict[int, int] = {}
        for index in sorted(range(len(spans)), key=lambda i: -embedded[i][1]):
            speakers[index] = self._assign(*embedded[index])
        parts = []
        for index, (start, end) in enumerate(spans):
            label = self._labels.setdefault(speakers[index], f"S{len(self._labels)}")
            parts.append(LabelledPart(start, end, label))
        return _joined(parts)

    def _split_points(self, windows: list[Span], units: np.ndarray, words: list[Span]) -> list[float]:
        """Split times, in order: the gaps between words where the windows within ``context_s`` before
        and after are least similar, below ``change_similarity``, at least ``min_turn_s`` apart."""
        options, slack = self.options, self.options.edge_slack_s
        candidates: list[tuple[float, float, list[int], list[int]]] = []
        for before, after in zip(words[:-1], words[1:]):
            cut = (before.end + after.start) / 2
            left = [i for i, w in enumerate(windows) if w.start >= cut - options.context_s and w.end <= cut + slack]
            right = [i for i, w in enumerate(windows) if w.start >= cut - slack and w.end <= cut + options.context_s]
            if left and right:
                similarity = float(_unit(units[left].mean(axis=0)) @ _unit(units[right].mean(axis=0)))
                candidates.append((similarity, cut, left, right))
        cuts: list[float] = []
        for similarity, cut, left, right in sorted(candidates, key=lambda c: c[0]):
            if similarity >= options.change_similarity:
                break
            nearby = [w for w in words if abs((w.start + w.end) / 2 - cut) < options.context_s]
            cut = _change_point(windows, units, nearby, units[left].mean(axis=0), units[right].mean(axis=0))
            if all(abs(cut - other) >= options.min_turn_s for other in cuts):
                cuts.append(cut)
        return sorted(cuts)

    def _part_embedding(
        self, windows: list[Span], units: np.ndarray, start: float, end: float
    ) -> tuple[np.ndarray, int]:
        """Mean embedding of the windows wholly inside the part and their count; with none, the
        windows overlapping it, weighted by their overlap (count 0)."""
        slack = self.options.edge_slack_s
        full = self.options.window_s - 1e-6  # a tiled window (a short final) is not a whole one
        whole = [
            i
            for i, w in enumerate(windows)
            if w.start >= start - slack and w.end <= end + slack and w.end - w.start >= full
        ]
        if whole:
            return _unit(units[whole].mean(axis=0)), len(whole)
        overlap = np.array([max(0.0, min(end, w.end) - max(start, w.start)) for w in windows])
        if not overlap.any():
            overlap = np.ones(len(windows))
        return _unit(overlap @ units), 0

    def _assign(self, embedding: np.ndarray, whole_windows: int) -> int:
        """The speaker of a part (a new one when none is similar enough); its centroid takes the part in."""
        options = self.options
        clear = whole_windows >= options.mature_windows
        threshold = options.clear_match_similarity if clear else options.match_similarity
        weight = max(whole_windows, 1)
        if self._sums:
            similarity = np.array([_unit(total) @ embedding for total in self._sums])
            best = int(np.argmax(similarity))
            if whole_windows and self._weights[best] < options.mature_windows:
                threshold = min(threshold, options.young_match_similarity)
            full = options.max_speakers is not None and self.count >= options.max_speakers
            if similarity[best] >= threshold or full or not whole_windows:
                self._sums[best] = self._sums[best] + weight * embedding
                self._weights[best] += weight
                return best
        self._sums.append(weight * embedding)
        self._weights.append(weight)
        return self.count - 1


def _change_point(
    windows: list[Span], units: np.ndarray, words: list[Span], left: np.ndarray, right: np.ndarray
) -> float:
    """The gap between ``words`` that best separates the words sounding like ``left`` from those
    sounding like ``right`` (each word: the windows covering its middle, closer to which side)."""
    leaning = []
    for word in words:
        middle = (word.start + word.end) / 2
        covering = [i for i, w in enumerate(windows) if w.start <= middle < w.end]
        leaning.append(float((units[covering] @ (_unit(left) - _unit(right))).mean()) if covering else 0.0)
    totals = np.cumsum(leaning)
    # splitting after word k: the words up to k lean left, the rest right; a wider gap wins a tie
    scores = [2 * totals[k] - totals[-1] for k in range(len(words) - 1)]
    gaps = [words[k + 1].start - words[k].end for k in range(len(words) - 1)]
    k = max(range(len(words) - 1), key=lambda k: (round(scores[k], 6), gaps[k]))
    return (words[k].end + words[k + 1].start) / 2


def _joined(parts: list[LabelledPart]) -> list[LabelledPart]:
    """Neighbouring parts of one speaker as one."""
    joined: list[LabelledPart] = []
    for part in parts:
        if joined and joined[-1].speaker == part.speaker:
            joined[-1] = LabelledPart(joined[-1].start, part.end, part.speaker)
        else:
            joined.append(part)
    return joined


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
