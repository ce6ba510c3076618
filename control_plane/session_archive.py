"""The durable side of a live session: its SQL record, its recording and its transcript artifact.

Every call that touches the database or the store runs in a worker thread, never on the event
loop. The recording is appended as audio arrives (bounded memory); ``close`` always finalizes it
and the record, whatever way the session ended, so nothing accepted is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import msgspec
import numpy as np
import structlog

from control_plane.persistence import sessions as repository
from control_plane.persistence.database import Database
from control_plane.persistence.states import SessionStatus
from control_plane.protocol import SessionParams, TranscriptFinal
from control_plane.recording import AudioRecorder
from control_plane.storage.base import ObjectStore
from control_plane.storage.keys import session_audio_key, session_transcript_key

log = structlog.get_logger(__name__)


class TranscriptArtifact(msgspec.Struct, kw_only=True):
    """``sessions/{id}/transcript.json``: the live finals with words and timing."""

    session_id: str
    model: str
    language: str
    sample_rate: int
    total_audio_seconds: float
    text: str
    segments: list[TranscriptFinal]


class SessionOutcome(msgspec.Struct, kw_only=True):
    status: SessionStatus
    audio_uri: str | None
    transcript_uri: str | None


class SessionArchive:
    """Create with :meth:`open`; feed with :meth:`record`; always end with :meth:`close`."""

    def __init__(self, database: Database, store: ObjectStore, session_id: str, params: SessionParams, model: str):
        self._database = database
        self._store = store
        self.session_id = session_id
        self._params = params
        self._model = model
        self._recorder: AudioRecorder | None = None
        self._recording_failed = False
        self._outcome: SessionOutcome | None = None

    @classmethod
    async def open(
        cls, database: Database, store: ObjectStore, session_id: str, params: SessionParams, model: str
    ) -> SessionArchive:
        """Insert the ``active`` record and, with ``store_audio``, start the recording."""
        archive = cls(database, store, session_id, params, model)
        await anyio.to_thread.run_sync(
            lambda: repository.create_session(
                database,
                session_id=session_id,
                params=msgspec.to_builtins(params),
                model=model,
                language=params.language,
                sample_rate=params.sample_rate,
                encoding=params.encoding.value,
            )
        )
        if params.store_audio:
            archive._recorder = await anyio.to_thread.run_sync(
                AudioRecorder.start, store, session_id, params.sample_rate
            )
        return archive

    async def record(self, pcm16: np.ndarray) -> None:
        """Append int16 samples at the session's rate to the recording (if one is kept)."""
        if self._recorder is None or self._recording_failed:
            return
        try:
            await anyio.to_thread.run_sync(self._recorder.write_pcm16, pcm16)
        except Exception:
            self._recording_failed = True
            log.exception("recording.write_failed", session_id=self.session_id)
            raise

    async def close(
        self,
        *,
        status: SessionStatus,
        finals: list[TranscriptFinal],
        total_audio_seconds: float,
        total_duration: float,
    ) -> SessionOutcome:
        """Finish the recording, write the transcript artifact, finalize the record (once)."""
        if self._outcome is None:
            with anyio.CancelScope(shield=True):
                self._outcome = await anyio.to_thread.run_sync(
                    self._close_sync, status, finals, total_audio_seconds, total_duration
                )
        return self._outcome

    def _close_sync(
        self, status: SessionStatus, finals: list[TranscriptFinal], total_audio_seconds: float, total_duration: float
    ) -> SessionOutcome:
        audio_uri = None
        if self._recorder is not None:
            try:
                audio_uri = self._recorder.finish()
            except Exception:
                log.exception("recording.finish_failed", session_id=self.session_id)
                status = SessionStatus.FAILED
        text = " ".join(final.text for final in finals)
        transcript_uri = None
        if self._params.store_transcript:
            artifact = TranscriptArtifact(
                session_id=self.session_id,
                model=self._model,
                language=self._params.language,
                sample_rate=self._params.sample_rate,
                total_audio_seconds=total_audio_seconds,
                text=text,
                segments=finals,
            )
            key = session_transcript_key(self.session_id)
            self._store.put_bytes(key, msgspec.json.encode(artifact))
            transcript_uri = self._store.uri(key)
        repository.finalize_session(
            self._database,
            self.session_id,
            status=status,
            ended_at=datetime.now(UTC),
            total_audio_seconds=total_audio_seconds,
            total_duration=total_duration,
            utterance_count=len(finals),
            transcript=text,
            audio_uri=audio_uri,
            transcript_uri=transcript_uri,
        )
        return SessionOutcome(status=status, audio_uri=audio_uri, transcript_uri=transcript_uri)


def repair_unfinished_sessions(database: Database, store: ObjectStore) -> list[str]:
    """At start-up: sessions left ``active`` by a killed server become ``interrupted``.

    Their recording is kept when the store holds a playable one (the local folder checkpoints the
    WAV header every second; an unfinished S3 upload cannot be recovered).
    """
    repaired = repository.mark_active_sessions_interrupted(database)
    for session_id in repaired:
        key = session_audio_key(session_id)
        if store.exists(key):
            repository.set_audio_uri(database, session_id, store.uri(key))
    return repaired
