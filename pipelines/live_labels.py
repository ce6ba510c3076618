"""Which live speaker label (``S0``, ``S1``... of a ``diarize`` session) each enhanced speaker is.

The enhanced speaker takes the live label its segments overlap most in time among the session's
stored live finals, so a client can relabel what it showed live.
"""

from __future__ import annotations

from collections import defaultdict

import msgspec

from core.protocol import TranscriptFinal
from core.transcript import Transcript


def with_live_labels(transcript: Transcript, live_finals: list[TranscriptFinal]) -> Transcript:
    """``transcript`` with ``live_label`` on each speaker that overlaps a labelled live final."""
    labelled = [final for final in live_finals if final.speaker]
    overlap: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for segment in transcript.segments:
        if segment.speaker is None:
            continue
        for final in labelled:
            shared = min(segment.end, final.end) - max(segment.start, final.start)
            if shared > 0:
                overlap[segment.speaker][final.speaker] += shared
    speakers = [
        msgspec.structs.replace(speaker, live_label=max(overlap[speaker.id], key=overlap[speaker.id].__getitem__))
        if overlap.get(speaker.id)
        else speaker
        for speaker in transcript.speakers
    ]
    return msgspec.structs.replace(transcript, speakers=speakers)
