"""Tandem's timed words as ElevenLabs lists them: a ``word`` entry each, ``spacing`` entries between."""

from __future__ import annotations

import math
from typing import Protocol

import msgspec


class TimedWord(Protocol):
    """A word of a job's transcript or of a live final."""

    text: str
    start: float
    end: float
    confidence: float


class Character(msgspec.Struct):
    text: str
    start: float
    end: float


class ElevenLabsWord(msgspec.Struct, omit_defaults=True):
    text: str
    start: float
    end: float
    type: str
    speaker_id: str
    logprob: float
    characters: list[Character] | None = None


def speaker_id(speaker: str | None) -> str:
    """``SPEAKER_01`` (Tandem) → ``speaker_1`` (ElevenLabs); no speaker is ``speaker_0``."""
    digits = (speaker or "").rpartition("_")[2]
    return f"speaker_{int(digits)}" if digits.isdigit() else "speaker_0"


def elevenlabs_words(
    words: list[TimedWord], speakers: list[str | None] | None = None, *, characters: bool = False
) -> list[ElevenLabsWord]:
    """``words`` with a ``spacing`` entry (`` ``) between each pair; ``characters`` adds per-character times
    (the word's span shared evenly)."""
    result: list[ElevenLabsWord] = []
    for index, word in enumerate(words):
        speaker = speaker_id(speakers[index] if speakers else None)
        if index:
            previous = words[index - 1]
            result.append(ElevenLabsWord(" ", previous.end, max(previous.end, word.start), "spacing", speaker, 0.0))
        entry = ElevenLabsWord(
            text=word.text,
            start=word.start,
            end=word.end,
            type="word",
            speaker_id=speaker,
            logprob=round(math.log(word.confidence), 4) if word.confidence > 0 else 0.0,
        )
        if characters:
            entry.characters = _characters(word)
        result.append(entry)
    return result


def _characters(word: TimedWord) -> list[Character]:
    step = (word.end - word.start) / max(len(word.text), 1)
    return [
        Character(char, round(word.start + i * step, 3), round(word.start + (i + 1) * step, 3))
        for i, char in enumerate(word.text)
    ]
