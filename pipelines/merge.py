"""Merge: the ASR's timed words meet the speaker turns.

Every word gets a positive duration and the speaker whose turns overlap it most (the nearest turn
when none overlaps). A lone word whose speaker's turns cover less than half of it (Whisper's last
word of a segment often lands, zero-length, in the pause before the next speaker's turn) is not a
turn of its own: it takes the speaker of its nearer neighbouring word. ASR segments are split where
the speaker changes; stretches where a second voice speaks over a turn (``overlaps``) are listed
with both speakers and count in both speakers' time; speakers are named ``SPEAKER_00``,
``SPEAKER_01``... in order of first appearance (:attr:`Merged.speaker_labels` keeps which cluster
got which label, for matching enrolled voiceprints against the clusters' embeddings).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.transcript import Overlap, Segment, Speaker, Transcript, Word, make_word
from pipelines.job_state import AsrSegment, AsrWord, SpeakerTurn, SpeechRegion

MIN_WORD_S = 0.05
"""Shortest word duration in the transcript (a zero-length word from the ASR is widened to it)."""
LONE_WORD_COVERAGE = 0.5
"""A one-word speaker run keeps its speaker only if that speaker's turns cover this share of the word."""


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
    overlaps: Sequence[SpeakerTurn] = (),
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
    asr_segments = [_with_positive_durations(segment) for segment in asr_segments]
    finder = _TurnFinder(turns)
    speakers = _word_speakers(asr_segments, finder)
    spans = [
        span
        for segment, clusters in zip(asr_segments, speakers)
        for span in _split_at_speaker_changes(segment, clusters, finder)
    ]
    labels: dict[int, str] = {}
    for span in spans:
        if span.cluster is not None and span.cluster not in labels:
            labels[span.cluster] = f"SPEAKER_{len(labels):02d}"
    segments = [_segment(index, span, labels, word_timestamps) for index, span in enumerate(spans)]
    overlapped = [
        Overlap(start=turn.start, end=turn.end, speakers=[labels[first], labels[turn.speaker]])
        for turn in overlaps
        if (first := finder.speaker(turn.start, turn.end)) in labels
        and turn.speaker in labels
        and first != turn.speaker
    ]
    speaking_s = {label: 0.0 for label in labels.values()}
    for turn in turns:
        if turn.speaker in labels:
            speaking_s[labels[turn.speaker]] += turn.end - turn.start
    for overlap in overlapped:
        speaking_s[overlap.speakers[1]] += overlap.end - overlap.start
    transcript = Transcript(
        language=language,
        duration=round(duration_s, 3),
        text=" ".join(segment.text for segment in segments if segment.text),
        segments=segments,
        speakers=[Speaker(id=label, total_duration=round(speaking_s[label], 3)) for label in labels.values()],
        words=[word for segment in segments for word in segment.words],
        overlaps=overlapped,
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


def _with_positive_durations(segment: AsrSegment) -> AsrSegment:
    """Each word at least ``MIN_WORD_S`` long, widened forwards into the pause after it, else backwards."""
    words = list(segment.words)
    for index, word in enumerate(words):
        if word.end - word.start >= MIN_WORD_S:
            continue
        next_start = words[index + 1].start if index + 1 < len(words) else word.start + MIN_WORD_S
        previous_end = words[index - 1].end if index else word.end - MIN_WORD_S
        end = max(word.end, min(word.start + MIN_WORD_S, next_start))
        start = min(word.start, max(end - MIN_WORD_S, previous_end, 0.0))
        if end - start <= 0:  # packed between neighbours: share their boundary
            start, end = word.start, word.start + MIN_WORD_S
        words[index] = replace(word, start=round(start, 3), end=round(end, 3))
    if not words:
        return segment
    return replace(segment, words=words, start=min(segment.start, words[0].start), end=max(segment.end, words[-1].end))


def _word_speakers(segments: list[AsrSegment], finder: _TurnFinder) -> list[list[int | None]]:
    """The speaker of every word of every segment; a lone word without a turn of its own takes a neighbour's.

    A word's neighbours are the words beside it in its ASR segment (those of the adjacent segments
    when it is the segment's only word).
    """
    flat = [(index, word) for index, segment in enumerate(segments) for word in segment.words]
    clusters = [finder.speaker(word.start, word.end) for _, word in flat]
    sizes = [len(segment.words) for segment in segments]
    for position, (segment_index, word) in enumerate(flat):
        cluster = clusters[position]
        neighbours = [
            other
            for other in (position - 1, position + 1)
            if 0 <= other < len(flat) and (flat[other][0] == segment_index or sizes[segment_index] == 1)
        ]
        if cluster is None or not neighbours or any(clusters[other] == cluster for other in neighbours):
            continue
        if finder.coverage(word.start, word.end, cluster) >= LONE_WORD_COVERAGE:
            continue  # the audio has that turn (a back-channel)
        nearest = min(neighbours, key=lambda other: _gap(word, flat[other][1]))
        clusters[position] = clusters[nearest]
    result, offset = [], 0
    for size in sizes:
        result.append(clusters[offset : offset + size])
        offset += size
    return result


def _gap(a: AsrWord, b: AsrWord) -> float:
    return max(b.start - a.end, a.start - b.end, 0.0)


class _TurnFinder:
    """The speaker of a time span by largest overlap with the turns, else the nearest turn."""

    def __init__(self, turns: list[SpeakerTurn]) -> None:
        self._turns = sorted(turns, key=lambda turn: turn.start)
        self._starts = [turn.start for turn in self._turns]

    def _overlaps(self, start: float, end: float) -> dict[int, float]:
        """Seconds of ``[start, end]`` inside each speaker's turns."""
        overlap: dict[int, float] = {}
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        for turn in self._turns[first:]:
            if turn.start >= end:
                break
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0:
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
        return overlap

    def coverage(self, start: float, end: float, speaker: int) -> float:
        """Share of ``[start, end]`` inside turns of ``speaker``."""
        return self._overlaps(start, end).get(speaker, 0.0) / max(end - start, 1e-9)

    def speaker(self, start: float, end: float) -> int | None:
        if not self._turns:
            return None
        overlap = self._overlaps(start, end)
        if overlap:
            return max(overlap, key=overlap.__getitem__)
        middle = (start + end) / 2
        nearest = min(self._turns, key=lambda turn: max(turn.start - middle, middle - turn.end, 0.0))
        return nearest.speaker


def _split_at_speaker_changes(segment: AsrSegment, clusters: list[int | None], finder: _TurnFinder) -> list[_Span]:
    if not segment.words:
        return [_Span(finder.speaker(segment.start, segment.end), [], segment, whole=True)]
    runs: list[tuple[int | None, list[AsrWord]]] = []
    for word, cluster in zip(segment.words, clusters):
        if runs and runs[-1][0] == cluster:
            runs[-1][1].append(word)
        else:
            runs.append((cluster, [word]))
    return [_Span(cluster, words, segment, whole=len(runs) == 1) for cluster, words in runs]


def _segment(index: int, span: _Span, labels: dict[int, str], word_timestamps: bool) -> Segment:
    speaker = labels.get(span.cluster) if span.cluster is not None else None
    words: list[Word] = [make_word(word.word, word.start, word.end, word.confidence, speaker) for word in span.words]
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
