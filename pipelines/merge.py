"""Merge: the ASR's timed words meet the speaker turns.

Every word gets the speaker whose turns overlap it most (the nearest turn when none overlaps);
ASR segments are split where the speaker changes; speakers are named ``SPEAKER_00``,
``SPEAKER_01``... in order of first appearance (:attr:`Merged.speaker_labels` keeps which cluster
got which label, for matching enrolled voiceprints against the clusters' embeddings).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

from core.transcript import Segment, Speaker, Transcript, Word, make_word
from pipelines.job_state import AsrSegment, AsrWord, SpeakerTurn, SpeechRegion


@dataclass(frozen=True)
class Merged:
    transcript: Transcript
    speaker_labels: dict[int, str]
    """Diarization cluster index → speaker id (``SPEAKER_00``...) in the transcript."""


@dataclass(frozen=True)
class _Span:
    """A piece of an ASR segment that one speaker said."""

    cluster: int | None
    words: list[AsrWord]
    source: AsrSegment
    whole: bool
    """The span is the whole ASR segment (its own text and times are kept)."""


def merge_transcript(
    asr_segments: list[AsrSegment],
    turns: list[SpeakerTurn],
    *,
    language: str,
    duration_s: float,
    word_timestamps: bool = True,
    speech_regions: list[SpeechRegion] | None = None,
) -> Merged:
    """The transcript of ``asr_segments`` labelled with ``turns`` (no speakers when ``turns`` is empty).

    With ``speech_regions``, word times are kept inside the speech the VAD found (Whisper's
    alignment tends to stretch a word into the silence after it).
    """
    if speech_regions:
        asr_segments = [_within_speech(segment, speech_regions) for segment in asr_segments]
    finder = _TurnFinder(turns)
    spans = [span for segment in asr_segments for span in _split_at_speaker_changes(segment, finder)]
    labels: dict[int, str] = {}
    for span in spans:
        if span.cluster is not None and span.cluster not in labels:
            labels[span.cluster] = f"SPEAKER_{len(labels):02d}"
    segments = [_segment(index, span, labels, word_timestamps) for index, span in enumerate(spans)]
    speaking_s = {label: 0.0 for label in labels.values()}
    for turn in turns:
        if turn.speaker in labels:
            speaking_s[labels[turn.speaker]] += turn.end - turn.start
    transcript = Transcript(
        language=language,
        duration=round(duration_s, 3),
        text=" ".join(segment.text for segment in segments if segment.text),
        segments=segments,
        speakers=[Speaker(id=label, total_duration=round(speaking_s[label], 3)) for label in labels.values()],
        words=[word for segment in segments for word in segment.words],
    )
    return Merged(transcript, labels)


def _within_speech(segment: AsrSegment, regions: list[SpeechRegion]) -> AsrSegment:
    """``segment`` with each word clipped to the speech region it overlaps most, and its bounds to its words."""
    starts = [region.start for region in regions]
    words = []
    for word in segment.words:
        index = max(0, bisect.bisect_right(starts, word.start) - 1)
        candidates = regions[index : index + 2]
        region = max(candidates, key=lambda r: min(word.end, r.end) - max(word.start, r.start))
        if min(word.end, region.end) - max(word.start, region.start) > 0:
            start = max(word.start, region.start)
            word = replace(word, start=start, end=max(start, min(word.end, region.end)))
        words.append(word)
    if not words:
        return segment
    return replace(segment, words=words, start=words[0].start, end=words[-1].end)


class _TurnFinder:
    """The speaker of a time span by largest overlap with the turns, else the nearest turn."""

    def __init__(self, turns: list[SpeakerTurn]) -> None:
        self._turns = sorted(turns, key=lambda turn: turn.start)
        self._starts = [turn.start for turn in self._turns]

    def speaker(self, start: float, end: float) -> int | None:
        if not self._turns:
            return None
        overlap: dict[int, float] = {}
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        for turn in self._turns[first:]:
            if turn.start >= end:
                break
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0:
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
        if overlap:
            return max(overlap, key=overlap.__getitem__)
        middle = (start + end) / 2
        nearest = min(self._turns, key=lambda turn: max(turn.start - middle, middle - turn.end, 0.0))
        return nearest.speaker


def _split_at_speaker_changes(segment: AsrSegment, finder: _TurnFinder) -> list[_Span]:
    if not segment.words:
        return [_Span(finder.speaker(segment.start, segment.end), [], segment, whole=True)]
    runs: list[tuple[int | None, list[AsrWord]]] = []
    for word in segment.words:
        cluster = finder.speaker(word.start, max(word.end, word.start + 0.01))
        if runs and runs[-1][0] == cluster:
            runs[-1][1].append(word)
        else:
            runs.append((cluster, [word]))
    return [_Span(cluster, words, segment, whole=len(runs) == 1) for cluster, words in runs]


def _segment(index: int, span: _Span, labels: dict[int, str], word_timestamps: bool) -> Segment:
    speaker = labels.get(span.cluster) if span.cluster is not None else None
    words: list[Word] = [
        make_word(word.word, word.start, word.end, word.confidence, speaker) for word in span.words
    ]
    if span.whole:
        source = span.source
        text, start, end, confidence = source.text.strip(), source.start, source.end, source.confidence
    else:
        text = " ".join(word.word for word in span.words)
        start, end = span.words[0].start, span.words[-1].end
        confidence = sum(word.confidence for word in span.words) / len(span.words)
    return Segment(
        id=index,
        start=round(start, 3),
        end=round(end, 3),
        text=text,
        speaker=speaker,
        speaker_id=speaker,
        confidence=round(confidence, 4),
        words=words if word_timestamps else [],
    )
