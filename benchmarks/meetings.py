"""The recorded meetings of the batch benchmark: espeak conversations joined to a length, with their reference words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.conversations import make_conversation
from benchmarks.speech import SAMPLE_RATE, conversation


@dataclass(frozen=True)
class Meeting:
    audio: np.ndarray
    """16 kHz mono float32."""
    text: str
    """Reference words in order."""

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def join_meetings(parts: Sequence[tuple[np.ndarray, str]], gap_s: float = 0.5) -> Meeting:
    """Meetings one after the other with ``gap_s`` of silence between them."""
    gap = np.zeros(int(gap_s * SAMPLE_RATE), np.float32)
    pieces: list[np.ndarray] = []
    for index, (audio, _) in enumerate(parts):
        if index:
            pieces.append(gap)
        pieces.append(audio.astype(np.float32))
    return Meeting(np.concatenate(pieces) if pieces else np.zeros(0, np.float32), " ".join(t for _, t in parts))


def long_meeting(minutes: float, seed: int = 0) -> Meeting:
    """About ``minutes`` of espeak meetings of 2-4 voices (back-channels, quick turns), joined."""
    parts: list[tuple[np.ndarray, str]] = []
    total_s, index = 0.0, 0
    while total_s < minutes * 60:
        meeting = make_conversation(2 + index % 3, seed=seed + index)
        parts.append((meeting.audio, " ".join(word.text for word in meeting.words)))
        total_s += meeting.duration_s + 0.5
        index += 1
    return join_meetings(parts)


def short_meetings() -> dict[str, Meeting]:
    """The ASR comparison set: meetings of 2, 3, 4 voices (test_job_quality seeds) + the 4-line clip."""
    meetings = {}
    for voices in (2, 3, 4):
        meeting = make_conversation(voices, seed=voices)
        meetings[f"meeting-{voices}-voices"] = Meeting(meeting.audio, " ".join(w.text for w in meeting.words))
    clip = conversation()
    meetings["speech-conversation"] = Meeting(clip.audio, clip.text)
    return meetings
