"""The durable side of a live session: its SQL record, its recording and its transcript artifact.

Every call that touches the database or the store runs in a worker thread, never on the event
loop. The recording is written by its own task as audio arrives (bounded memory), so a slow
store never delays transcription; ``close`` finalizes it and the record whatever way the session
ended, so nothing accepted is lost, and a recording that could not be stored is never reported
as complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import anyio
import msgspec
import numpy as np
import structlog

from core.audio.recording import AudioRecorder
from core.live_transcript import LiveTranscript
from core.persistence import sessions as repository
from core.persistence.database import Database
from core.persistence.states import SessionStatus
from core.protocol import SessionParams, TranscriptFinal
from core.storage.base import ObjectStore
from core.storage.keys import session_audio_key, session_transcript_key

log = structlog.get_logger(__name__)


class SessionOutcome(msgspec.Struct, kw_only=True):
    status: SessionStatus
    audio_uri: str | None
    transcript_uri: str | None
    error: str | None = None
    """What could not be stored (the session is then ``failed``)."""


class RecordingWriter:
    """Writes a session's recording on its own task, so the session never waits on storage.

    :meth:`write` only queues the samples. At most ``max_buffered_samples`` wait for the store;
    beyond that (storage slower than the stream for too long), or when a write still fails after
    the store's retries, the recording stops: it is aborted, :attr:`error` says why and
    ``on_failure`` is called once. The session goes on.
    """

    def __init__(
        self, recorder: AudioRecorder, session_id: str, max_buffered_samples: int, on_failure: Callable[[str], None]
    ) -> None:
        self._recorder = recorder
        self._session_id = session_id
        self._max_buffered_samples = max_buffered_samples
        self._on_failure = on_failure
        self._queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self._buffered_samples = 0
        self.error: str | None = None
        self._task = asyncio.create_task(self._write_queued())

    def write(self, pcm16: np.ndarray) -> None:
        """Queue int16 samples for the recording; never waits."""
        if self.error is not None:
            return
        if self._buffered_samples + len(pcm16) > self._max_buffered_samples:
            seconds = self._buffered_samples / self._recorder.sample_rate
            self._fail(f"the store is too slow: {seconds:.0f} s of audio waited to be written")
            return
        self._buffered_samples += len(pcm16)
        self._queue.put_nowait(pcm16)

    async def finish(self) -> str | None:
        """Write what is queued and complete the recording; its URI, or ``None`` if it failed.

        A failed recording is not waited for: a write stuck on the store ends (and the upload is
        aborted) on its own task when the store's timeouts run out.
        """
        self._queue.put_nowait(None)
        if self.error is None:
            await self._task
        if self.error is None:
            try:
                return await anyio.to_thread.run_sync(self._recorder.finish)
            except Exception as exc:
                log.exception("recording.finish_failed", session_id=self._session_id)
                self.error = f"the recording could not be completed: {exc}"
        return None

    async def _write_queued(self) -> None:
        aborted = False
        while (pcm16 := await self._queue.get()) is not None:
            self._buffered_samples -= len(pcm16)
            if self.error is None:
                try:
                    await anyio.to_thread.run_sync(self._recorder.write_pcm16, pcm16)
                except Exception as exc:
                    log.exception("recording.write_failed", session_id=self._session_id)
                    self._fail(f"the recording could not be stored: {exc}")
            if self.error is not None and not aborted:
                aborted = True
                await anyio.to_thread.run_sync(self._abort_quietly)
        if self.error is not None and not aborted:
            await anyio.to_thread.run_sync(self._abort_quietly)

    def _fail(self, error: str) -> None:
        if self.error is None:
            self.error = error
            self._on_failure(error)

    def _abort_quietly(self) -> None:
        try:
            self._recorder.abort()
        except Exception:
            log.warning("recording.abort_failed", session_id=self._session_id, exc_info=True)


class SessionArchive:
    """Create with :meth:`open`; feed with :meth:`record`; end with :meth:`close` (once)."""

    def __init__(
        self,
        database: Database,
        store: ObjectStore,
        session_id: str,
        params: SessionParams,
        model: str,
        recording: RecordingWriter | None,
    ):
        self._database = database
        self._store = store
        self.session_id = session_id
        self._params = params
        self._model = model
        self.recording = recording

    @classmethod
    async def open(
        cls,
        database: Database,
        store: ObjectStore,
        session_id: str,
        params: SessionParams,
        model: str,
        *,
        tenant: str,
        recording_buffer_s: float,
        on_recording_failed: Callable[[str], None],
        owner: str | None = None,
    ) -> SessionArchive:
        """Insert ``tenant``'s ``active`` record (served by the control plane ``owner``) and, with
        ``store_audio``, start the recording.

        ``on_recording_failed`` is called (on the event loop) if the recording stops mid-session.
        """
        await anyio.to_thread.run_sync(
            lambda: repository.create_session(
                database,
                tenant=tenant,
                session_id=session_id,
                params=msgspec.to_builtins(params),
                model=model,
                language=params.language,
                sample_rate=params.sample_rate,
                encoding=params.encoding.value,
                owner=owner,
            )
        )
        recording = None
        if params.store_audio:
            recorder = await anyio.to_thread.run_sync(AudioRecorder.start, store, session_id, params.sample_rate)
            recording = RecordingWriter(
                recorder, session_id, int(recording_buffer_s * params.sample_rate), on_recording_failed
            )
        return cls(database, store, session_id, params, model, recording)

    def record(self, pcm16: np.ndarray) -> None:
        """Queue int16 samples at the session's rate for the recording (if one is kept); never waits."""
        if self.recording is not None:
            self.recording.write(pcm16)

    async def close(
        self,
        *,
        status: SessionStatus,
        finals: list[TranscriptFinal],
        total_audio_seconds: float,
        total_duration: float,
    ) -> SessionOutcome:
        """Finish the recording, write the transcript artifact, finalize the record.

        A recording or artifact that could not be stored makes the session ``failed``, with the
        reason in its ``error`` column and no URI for what is missing. Raises when the record
        cannot be written (the row stays ``active`` for the start-up repair).
        """
        with anyio.CancelScope(shield=True):
            audio_uri = await self.recording.finish() if self.recording is not None else None
            errors = [self.recording.error] if self.recording is not None and self.recording.error else []
            return await anyio.to_thread.run_sync(
                self._close_sync, status, finals, total_audio_seconds, total_duration, audio_uri, errors
            )

    def _close_sync(
        self,
        status: SessionStatus,
        finals: list[TranscriptFinal],
        total_audio_seconds: float,
        total_duration: float,
        audio_uri: str | None,
        errors: list[str],
    ) -> SessionOutcome:
        text = " ".join(final.text for final in finals)
        transcript_uri = None
        if self._params.store_transcript or (self._params.diarize and self._params.store_audio):
            # a recording with live speaker labels: its enhancement says which live label each speaker is
            artifact = LiveTranscript(
                session_id=self.session_id,
                model=self._model,
                language=self._params.language,
                sample_rate=self._params.sample_rate,
                total_audio_seconds=total_audio_seconds,
                text=text,
                segments=finals,
            )
            key = session_transcript_key(self.session_id)
            try:
                self._store.put_bytes(key, msgspec.json.encode(artifact))
                transcript_uri = self._store.uri(key)
            except Exception as exc:
                log.exception("transcript.store_failed", session_id=self.session_id)
                errors.append(f"the transcript could not be stored: {exc}")
        if errors:
            status = SessionStatus.FAILED
        error = "; ".join(errors) or None
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
            error=error,
        )
        return SessionOutcome(status=status, audio_uri=audio_uri, transcript_uri=transcript_uri, error=error)


def repair_unfinished_sessions(
    database: Database, store: ObjectStore, owner_alive: Callable[[str | None], bool] | None = None
) -> list[str]:
    """Sessions left ``active`` by a killed server (one whose owner is not ``owner_alive``) become ``interrupted``.

    Their recording is kept up to its last checkpoint (the local folder rewrites the WAV header every
    second of audio; S3 keeps a checkpoint every 10 s, completed here).
    """
    repaired = repository.mark_active_sessions_interrupted(database, owner_alive=owner_alive)
    for session_id in repaired:
        key = session_audio_key(session_id)
        if store.recover(key):
            repository.set_audio_uri(database, session_id, store.uri(key))
    return repaired
