"""``sessions/{id}/transcript.json``: a live session's finals as stored at its end.

Written by the live socket's archive; read by the enhancement of the session (which live speaker
label each enhanced speaker is).
"""

from __future__ import annotations

import msgspec

from core.protocol import TranscriptFinal
from core.storage.base import ObjectNotFoundError, ObjectStore
from core.storage.keys import session_transcript_key


class LiveTranscript(msgspec.Struct, kw_only=True):
    """The live finals with words, timing and, with ``diarize``, live speaker labels."""

    session_id: str
    model: str
    language: str
    sample_rate: int
    total_audio_seconds: float
    text: str
    segments: list[TranscriptFinal]


def load_live_transcript(store: ObjectStore, session_id: str) -> LiveTranscript | None:
    """The stored live transcript of a session; ``None`` when none was stored."""
    try:
        data = store.get_bytes(session_transcript_key(session_id))
    except ObjectNotFoundError:
        return None
    return msgspec.json.decode(data, type=LiveTranscript)
