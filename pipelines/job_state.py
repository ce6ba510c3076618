"""What the stages of a job pass along: audio, ASR segments, speaker turns, the transcript.

Each stage is a function from the job's state to its next state; these are the plain values it
carries. Times are seconds from the start of the audio; audio is 16 kHz mono float32, read by
slices (a job's is a :class:`SignalFile`, tests may give an array).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.audio.signal_file import Signal, SignalFile
from core.transcript import Transcript

if TYPE_CHECKING:  # speech_regions builds on this module's SpeechRegion
    from pipelines.speech_regions import SpeechSearch

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class SpeechRegion:
    """A stretch of audio the VAD found speech in."""

    start: float
    end: float


@dataclass(frozen=True)
class AsrWord:
    word: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class AsrSegment:
    """A piece of the ASR output (a Whisper segment or a chunk's text) with its timed words."""

    start: float
    end: float
    text: str
    confidence: float
    words: list[AsrWord] = field(default_factory=list)
    language: str = ""
    """The language the ASR model decoded the segment's chunk in."""


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of audio attributed to one speaker cluster (``speaker`` is the cluster index)."""

    start: float
    end: float
    speaker: int


@dataclass(frozen=True)
class SpeakerCountHint:
    """What the user said about the number of speakers (``num_speakers`` wins over the bounds)."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


@dataclass
class JobState:
    """Everything a job has produced so far; stages fill it in order."""

    job_id: str
    audio: Signal = field(default_factory=lambda: np.zeros(0, dtype=np.float32), repr=False)
    duration_s: float = 0.0
    language: str = "en"
    speech_regions: list[SpeechRegion] = field(default_factory=list)
    """Where transcription found speech (word times are kept inside it)."""
    speech_search: asyncio.Future[SpeechSearch] | None = field(default=None, repr=False)
    """The VAD's pass over the audio, shared by the stages that need its regions."""
    asr_segments: list[AsrSegment] = field(default_factory=list)
    speaker_turns: list[SpeakerTurn] = field(default_factory=list)
    speaker_overlaps: list[SpeakerTurn] = field(default_factory=list)
    """The second voice of each stretch where two people speak at once (the first is in the turns)."""
    speaker_embeddings: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    """Mean voice embedding of each speaker cluster (for matching enrolled voiceprints)."""
    speaker_labels: dict[int, str] = field(default_factory=dict)
    """Speaker cluster index → speaker id in the transcript (``SPEAKER_00``...), set by merge."""
    transcript: Transcript | None = None
    warnings: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Let go of the audio's file (a :class:`SignalFile`); an array is left to the garbage collector."""
        if isinstance(self.audio, SignalFile):
            self.audio.close()
        self.audio = np.zeros(0, dtype=np.float32)
