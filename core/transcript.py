"""The enhanced transcript: the result of a batch or enhancement job (SPEC, Jobs).

Shared by the pipeline stages that build it, the REST API that serves it and the exports.
Times are seconds from the start of the audio.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class NameSource(StrEnum):
    ENROLLED = "enrolled"
    """The speaker's voice matched an enrolled voiceprint."""
    INFERRED = "inferred"
    """The transcript says who is speaking ("I'm Priya", "Hello Oliver")."""


class Word(msgspec.Struct, kw_only=True):
    """One timed word; the text is carried as ``word`` (OpenAI) and ``text`` (ElevenLabs, Dalston)."""

    word: str
    text: str
    start: float
    end: float
    confidence: float
    speaker: str | None = None
    speaker_id: str | None = None
    """The same as ``speaker``, under the name Dalston's clients read."""


class Emotion(msgspec.Struct, kw_only=True):
    label: str
    valence: float
    """-1 (negative) to 1 (positive)."""
    arousal: float
    """0 (calm) to 1 (excited)."""
    confidence: float


class Segment(msgspec.Struct, kw_only=True):
    id: int
    start: float
    end: float
    text: str
    speaker: str | None
    confidence: float
    words: list[Word] = []
    emotion: Emotion | None = None
    speaker_id: str | None = None
    """The same as ``speaker``, under the name Dalston's clients read."""


class Speaker(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    """``SPEAKER_00``, ``SPEAKER_01``... numbered in order of first appearance."""
    name: str | None = None
    name_source: NameSource | None = None
    total_duration: float = 0.0
    """Seconds of speech attributed to the speaker."""
    live_label: str | None = None
    """In a live session's enhancement with ``diarize``: the live label (``S0``...) this speaker had."""


class Overlap(msgspec.Struct, kw_only=True):
    """A stretch where two people speak at once (diarization); the segments carry the first voice's words."""

    start: float
    end: float
    speakers: list[str]
    """Speaker ids, the one whose turn it falls in first."""


class Transcript(msgspec.Struct, kw_only=True):
    """``jobs/{id}/transcript.json`` and the ``completed`` job body's result fields."""

    language: str
    duration: float
    text: str
    segments: list[Segment]
    speakers: list[Speaker]
    words: list[Word]
    overlaps: list[Overlap] = []
    summary: str | None = None
    warnings: list[str] = []


def make_word(text: str, start: float, end: float, confidence: float, speaker: str | None = None) -> Word:
    """A :class:`Word` carrying ``text`` under both names."""
    return Word(word=text, text=text, start=start, end=end, confidence=confidence, speaker=speaker, speaker_id=speaker)
