"""``WS /v1/audio/transcriptions/stream``: the WebSocket I/O around a :class:`LiveSession`.

Three concerns run side by side per connection: the receive loop (validates frames and control
messages and queues them in arrival order), the processing task (feeds audio and control
messages to the session, one at a time) and the sender task (writes the session's messages in
order). The receive loop never waits for inference, so a slow model shows up as a
``processing_lag`` warning; only a backlog of ``MAX_QUEUED_ITEMS`` stops it reading. The
recording is written by its own task (:class:`~control_plane.live.archive.RecordingWriter`),
so storage never delays transcripts. The outbox is bounded (a client that does not read is
closed with ``slow_consumer``) and so is the number of sessions (``capacity``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import msgspec
import numpy as np
import structlog
from litestar import WebSocket, websocket

from control_plane.auth.principal import tenant_of
from control_plane.live.archive import SessionArchive, SessionOutcome
from control_plane.live.dialect import Dialect, NativeDialect, Reply
from control_plane.live.outbox import Outbox
from control_plane.live.session import LiveSession
from core.audio.frames import (
    MODEL_SAMPLE_RATE,
    DecodedFrame,
    FrameDecoder,
    InvalidAudio,
)
from core.inference import InferenceClient
from core.jobs.enhancement import (
    EnhancementNotQueued,
    EnhancementUnavailable,
    enhance_session,
    first_enhancement_job_id,
    record_failed_enhancement,
)
from core.jobs.events import watch_job
from core.jobs.result import load_transcript
from core.live_models import LiveModels, StreamingModel
from core.live_tuning import LiveTuning
from core.metrics import LIVE_AUDIO_SECONDS, LIVE_SESSIONS, LIVE_SESSIONS_ACTIVE, count_error
from core.persistence.sessions import get_session, new_session_id
from core.persistence.states import JobStatus, SessionStatus
from core.protocol import (
    CloseCode,
    ConfigMessage,
    EndMessage,
    EnhancementCompleted,
    EnhancementFailed,
    EnhancementProgress,
    ErrorCode,
    ErrorMessage,
    FlushMessage,
    SessionBegin,
    SessionEnd,
    SessionParams,
    WarningCode,
    WarningMessage,
    parse_session_params,
)
from core.settings import Settings

STREAM_PATH = "/v1/audio/transcriptions/stream"
MAX_QUEUED_ITEMS = 64
"""Frames and messages waiting for the session; beyond this the socket is not read (backpressure),
so a client sending faster than real time cannot make the server hold its whole stream."""
FINAL_SEND_TIMEOUT_S = 10.0
"""After the session ended, how long its last messages may wait for a client that does not read."""

log = structlog.get_logger(__name__)


class _Disconnected:
    """Queued when the client goes away without ``end``."""


_DISCONNECTED = _Disconnected()
_WorkItem = DecodedFrame | ConfigMessage | FlushMessage | EndMessage | _Disconnected


class SessionSlots:
    """Counts live sessions against ``Settings.max_sessions`` (``0``: no cap), per control plane."""

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self.active = 0

    def acquire(self) -> Callable[[], None] | None:
        """Take a slot: the function that gives it back (once, however often called); ``None``
        when every slot is taken."""
        if self.max_sessions and self.active >= self.max_sessions:
            return None
        self.active += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.active -= 1

        return release


@dataclass
class _Connection:
    socket: WebSocket
    session_id: str
    params: SessionParams
    decoder: FrameDecoder
    live: LiveSession
    archive: SessionArchive
    outbox: Outbox
    work: asyncio.Queue[_WorkItem]
    model: StreamingModel
    dialect: Dialect
    release_slot: Callable[[], None]
    """Gives the session's slot back: at ``session.end`` (an ``enhance_wait`` socket does not hold one)."""
    queued_samples: int = 0
    """16 kHz samples received but not yet processed."""
    input_samples: int = 0
    """Samples accepted at the session's own rate (the recorded duration)."""
    started_at: float = 0.0


@websocket(STREAM_PATH)
async def transcription_stream(socket: WebSocket) -> None:
    """Live transcription of one audio stream."""
    await socket.accept()
    dialect = NativeDialect()
    try:
        params = parse_session_params(dict(socket.query_params))
    except ValueError as exc:
        await refuse(socket, dialect, ErrorCode.INVALID_PARAMETERS, str(exc), CloseCode.INVALID_PARAMETERS)
        return
    await serve_live(socket, params, dialect)


async def serve_live(
    socket: WebSocket, params: SessionParams, dialect: Dialect, *, vad_min_silence_s: float | None = None
) -> None:
    """Run a live session on an accepted ``socket`` speaking ``dialect`` (any front door's live socket).

    ``vad_min_silence_s`` replaces the configured VAD silence window for this session.
    """
    settings: Settings = socket.app.state.settings
    inference: InferenceClient = socket.app.state.inference
    live_models: LiveModels = socket.app.state.live_models
    slots: SessionSlots = socket.app.state.session_slots
    try:
        model = live_models.select(params.model)
        params.model = model.name
        _check_language(model, params.language)
        _check_enhancement(model, socket.app.state.batch_model, params)
    except ValueError as exc:
        await refuse(socket, dialect, ErrorCode.INVALID_PARAMETERS, str(exc), CloseCode.INVALID_PARAMETERS)
        return
    release_slot = slots.acquire()
    if release_slot is None:
        message = f"the server already serves {slots.max_sessions} sessions"
        await refuse(socket, dialect, ErrorCode.CAPACITY, message, CloseCode.CAPACITY)
        return
    tuning = settings.live
    if vad_min_silence_s is not None:
        tuning = msgspec.structs.replace(tuning, vad_min_silence_s=vad_min_silence_s)
    try:
        await _serve(socket, settings, inference, model, params, dialect, tuning, release_slot)
    finally:
        release_slot()


async def _serve(
    socket: WebSocket,
    settings: Settings,
    inference: InferenceClient,
    model: StreamingModel,
    params: SessionParams,
    dialect: Dialect,
    tuning: LiveTuning,
    release_slot: Callable[[], None],
) -> None:
    if not await inference.ready():
        message = "the model server is not available"
        await refuse(socket, dialect, ErrorCode.MODEL_UNAVAILABLE, message, CloseCode.MODEL_UNAVAILABLE)
        return

    if model.language:
        params.language = model.language  # `auto` resolves to the model's only language
    session_id = new_session_id()
    structlog.contextvars.bind_contextvars(session_id=session_id)  # every log line of this connection's tasks
    outbox = Outbox(settings.outbox_max_messages)
    try:
        archive = await SessionArchive.open(
            socket.app.state.database,
            socket.app.state.store,
            session_id,
            params,
            model.name,
            tenant=tenant_of(socket),
            recording_buffer_s=settings.recording_buffer_s,
            owner=socket.app.state.heartbeat.owner,
            on_recording_failed=lambda error: outbox.put(
                WarningMessage(code=WarningCode.RECORDING_FAILED, message=f"recording stopped: {error}")
            ),
        )
    except Exception:
        log.exception("session.open_failed", session_id=session_id)
        message = "the session could not be stored"
        await refuse(socket, dialect, ErrorCode.INTERNAL_ERROR, message, CloseCode.INTERNAL_ERROR)
        return
    connection = _Connection(
        socket=socket,
        session_id=session_id,
        params=params,
        decoder=FrameDecoder(params.encoding, params.sample_rate),
        live=LiveSession(params, inference, outbox.put, tuning, triton_model=model.triton_model),
        archive=archive,
        outbox=outbox,
        work=asyncio.Queue(maxsize=MAX_QUEUED_ITEMS),
        model=model,
        dialect=dialect,
        release_slot=release_slot,
        started_at=time.monotonic(),
    )
    LIVE_SESSIONS_ACTIVE.inc()
    log.info("session.begin", session_id=connection.session_id, params=msgspec.to_builtins(params))
    outbox.put(
        SessionBegin(
            session_id=connection.session_id,
            model=connection.model.name,
            language=params.language,
            sample_rate=params.sample_rate,
            encoding=params.encoding,
            config=msgspec.structs.replace(params),  # a snapshot: `config` messages change params later
        )
    )
    sender = asyncio.create_task(_send_messages(connection))
    processor = asyncio.create_task(_process(connection))
    receiver = asyncio.create_task(_receive(connection))
    slow_consumer = asyncio.create_task(outbox.overflowed.wait())
    try:
        await asyncio.wait({receiver, processor, slow_consumer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Whatever happened to this task, the session is finalized: `end` or a disconnect is
        # queued behind every accepted frame, and the processor runs until it handles it.
        LIVE_SESSIONS_ACTIVE.dec()
        slow_consumer.cancel()
        if not receiver.done():  # the session failed, or the client reads too slowly: stop reading
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
            if not processor.done():
                await connection.work.put(_DISCONNECTED)
        await asyncio.shield(processor)
        outbox.close()
        try:
            await asyncio.wait_for(asyncio.shield(sender), FINAL_SEND_TIMEOUT_S)
        except TimeoutError:
            sender.cancel()


def _check_language(model: StreamingModel, language: str) -> None:
    if not model.accepts_language(language):
        if model.language:
            raise ValueError(f"model {model.name!r} only transcribes language {model.language!r}")
        raise ValueError(f"model {model.name!r} does not transcribe language {language!r}")


def _check_enhancement(model: StreamingModel, batch_model: StreamingModel, params: SessionParams) -> None:
    """``enhance_on_end`` needs the batch model to transcribe whatever language the session may speak."""
    if not params.enhance_on_end:
        return
    language = model.language or params.language
    if language == "auto" and batch_model.language:
        raise ValueError(
            f"enhance_on_end: model {model.name!r} with language 'auto' may hear any language, but enhancement"
            f" ({batch_model.name!r}) transcribes only {batch_model.language!r}; pass language={batch_model.language}"
        )
    if not batch_model.accepts_language(language):
        raise ValueError(
            f"enhance_on_end: enhancement ({batch_model.name!r}) does not transcribe language {language!r}; accepted: "
            + ", ".join(repr(accepted) for accepted in sorted(batch_model.languages))
        )


async def _receive(connection: _Connection) -> None:
    """Read frames until ``end``; validate and queue them. A disconnect (or a broken socket)
    queues :data:`_DISCONNECTED` so that the session is still finalized."""
    try:
        while True:
            message = await connection.socket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await _accept_audio(connection, message["bytes"])
                continue
            try:
                items = connection.dialect.read(message.get("text") or "")
                for item in items:
                    if isinstance(item, ConfigMessage) and item.language is not None:
                        _check_language(connection.model, item.language)
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                connection.outbox.put(
                    ErrorMessage(code=ErrorCode.INVALID_MESSAGE, message=f"message refused: {exc}", recoverable=True)
                )
                continue
            for item in items:
                if isinstance(item, bytes):
                    await _accept_audio(connection, item)
                elif isinstance(item, Reply):
                    connection.outbox.put(item)
                else:
                    await connection.work.put(item)
                    if isinstance(item, EndMessage):
                        return
    except Exception:
        log.exception("session.receive_failed", session_id=connection.session_id)
    await connection.work.put(_DISCONNECTED)


async def _accept_audio(connection: _Connection, frame: bytes) -> None:
    try:
        decoded = connection.decoder.decode(frame)
    except InvalidAudio as exc:
        connection.outbox.put(ErrorMessage(code=ErrorCode.INVALID_AUDIO, message=str(exc), recoverable=True))
        return
    connection.queued_samples += len(decoded.model_audio)
    await connection.work.put(decoded)


async def _process(connection: _Connection) -> None:
    """Feed queued work to the live session in arrival order, then end the session (once).

    Audio frames that queued up while the session was busy are processed as one chunk.
    """
    try:
        status = await _process_queue(connection)
    except Exception:
        log.exception("session.failed", session_id=connection.session_id)
        connection.outbox.put(
            ErrorMessage(code=ErrorCode.INTERNAL_ERROR, message="the session failed on the server", recoverable=False)
        )
        status = SessionStatus.FAILED
    await _end(connection, status=status)


async def _process_queue(connection: _Connection) -> SessionStatus:
    """Process work until ``end`` (``completed``) or a disconnect (``interrupted``)."""
    live = connection.live
    pending: deque[_WorkItem] = deque()
    while True:
        if not pending:
            pending.append(await connection.work.get())
        while not connection.work.empty():
            pending.append(connection.work.get_nowait())
        item = pending.popleft()
        if isinstance(item, DecodedFrame):
            frames = [item]
            while pending and isinstance(pending[0], DecodedFrame):
                frames.append(pending.popleft())
            pcm16 = np.concatenate([f.pcm16 for f in frames])
            connection.input_samples += len(pcm16)
            LIVE_AUDIO_SECONDS.inc(len(pcm16) / connection.params.sample_rate)
            connection.archive.record(pcm16)
            audio = np.concatenate([f.model_audio for f in frames])
            backlog_s = connection.queued_samples / MODEL_SAMPLE_RATE  # this chunk included
            connection.queued_samples -= len(audio)
            await live.process_audio(audio, backlog_s=backlog_s, received_at=frames[-1].received_at)
        elif isinstance(item, ConfigMessage):
            live.configure(item)
        elif isinstance(item, FlushMessage):
            await live.flush()
        else:
            return SessionStatus.COMPLETED if isinstance(item, EndMessage) else SessionStatus.INTERRUPTED


async def _end(connection: _Connection, *, status: SessionStatus) -> None:
    """End the session: runs once per session and never raises.

    In order: the live session decodes its buffered speech and stops every background request;
    the archive finishes the recording and writes the record; then ``session.end`` is queued,
    after an ``error`` for each step that failed. When the record cannot be written (database
    down) it stays ``active`` and the start-up repair marks it ``interrupted``.
    """
    live = connection.live
    try:
        tail = connection.decoder.drain()
        if len(tail):
            await live.process_audio(tail)
        await live.flush()
    except Exception:
        log.exception("session.finalize_failed", session_id=connection.session_id)
        connection.outbox.put(
            ErrorMessage(
                code=ErrorCode.INTERNAL_ERROR, message="the last speech could not be transcribed", recoverable=False
            )
        )
        status = SessionStatus.FAILED
    finally:
        await live.cancel_requests()
    total_audio_seconds = round(connection.input_samples / connection.params.sample_rate, 3)
    total_duration = round(time.monotonic() - connection.started_at, 3)
    outcome = await _close_archive(connection, status, total_audio_seconds, total_duration)
    enhancement_job_id = await _start_enhancement(connection, outcome) if connection.params.enhance_on_end else None
    finals = live.stats.finals
    LIVE_SESSIONS.labels(status=(outcome.status if outcome else status).value).inc()
    connection.outbox.put(
        SessionEnd(
            session_id=connection.session_id,
            total_duration=total_duration,
            total_audio_seconds=total_audio_seconds,
            transcript=" ".join(f.text for f in finals),
            segments=live.segments(),
            audio_uri=outcome.audio_uri if outcome else None,
            enhancement_job_id=enhancement_job_id,
        )
    )
    log.info(
        "session.end",
        session_id=connection.session_id,
        status=outcome.status.value if outcome else "unrecorded",
        audio_seconds=total_audio_seconds,
        finals=len(finals),
        enhancement_job_id=enhancement_job_id,
    )
    connection.release_slot()
    if enhancement_job_id and connection.params.enhance_wait:
        await _push_enhancement(connection, enhancement_job_id)


async def _start_enhancement(connection: _Connection, outcome: SessionOutcome | None) -> str:
    """Create and queue the session's enhancement job from its stored recording; its id.

    The id is never missing: when the job cannot run, the reason is sent as an ``error`` and the
    job (``failed``) says it too; when the record could not be written, the start-up repair
    creates the job under the same id.
    """
    state = connection.socket.app.state
    job_id = first_enhancement_job_id(connection.session_id)
    if outcome is None:
        connection.outbox.put(
            WarningMessage(
                code=WarningCode.ENHANCEMENT_DEFERRED,
                message="the session could not be recorded as ended; its enhancement starts when the server recovers",
            )
        )
        return job_id
    try:
        session = await anyio.to_thread.run_sync(get_session, state.database, connection.session_id)
        try:
            view = await anyio.to_thread.run_sync(
                enhance_session, state.database, state.store, state.job_queue, session
            )
        except EnhancementUnavailable as exc:
            await anyio.to_thread.run_sync(record_failed_enhancement, state.database, session, str(exc))
            raise
        return view.id
    except EnhancementNotQueued as exc:
        message, job_id = f"{exc}; request it again with POST .../{connection.session_id}/enhance", exc.job_id
    except EnhancementUnavailable as exc:
        message = f"the session cannot be enhanced: {exc}"
    except Exception as exc:
        log.exception("session.enhancement_failed", session_id=connection.session_id)
        message = f"the enhancement job could not be created: {exc}"
    connection.outbox.put(ErrorMessage(code=ErrorCode.ENHANCEMENT_FAILED, message=message, recoverable=False))
    return job_id


async def _push_enhancement(connection: _Connection, job_id: str) -> None:
    """``enhance_wait``: the job's progress, then its transcript (or failure), while the client listens.

    A client that closes its socket meanwhile ends the wait at once (the job runs on).
    """
    outbox = connection.outbox
    client_gone = asyncio.create_task(_disconnected(connection.socket))
    try:
        await _push_job_updates(connection, job_id, stop_when=lambda: outbox.closed or client_gone.done())
        if client_gone.done():
            log.info("session.enhancement_wait_ended", session_id=connection.session_id, job_id=job_id,
                     reason="the client went away")
    finally:
        client_gone.cancel()


async def _disconnected(socket: WebSocket) -> None:
    """Return when the client closes its socket (anything else it sends now is ignored)."""
    with contextlib.suppress(Exception):
        while (await socket.receive())["type"] != "websocket.disconnect":
            pass


async def _push_job_updates(connection: _Connection, job_id: str, stop_when: Callable[[], bool]) -> None:
    state = connection.socket.app.state
    outbox = connection.outbox
    async for view in watch_job(state.database, job_id, stop_when=stop_when):
        if view.status is JobStatus.COMPLETED:
            transcript = await anyio.to_thread.run_sync(load_transcript, state.store, job_id)
            if transcript is not None:
                outbox.put(EnhancementCompleted(enhancement_job_id=job_id, transcript=transcript))
                return
            outbox.put(EnhancementFailed(enhancement_job_id=job_id, error="the enhanced transcript is missing"))
        elif view.finished:
            outbox.put(EnhancementFailed(enhancement_job_id=job_id, error=view.error or f"the job was {view.status}"))
        else:
            outbox.put(
                EnhancementProgress(enhancement_job_id=job_id, progress=view.progress, current_stage=view.current_stage)
            )


async def _close_archive(
    connection: _Connection, status: SessionStatus, total_audio_seconds: float, total_duration: float
) -> SessionOutcome | None:
    """Finalize the recording and the record; ``None`` (and an ``error`` sent) when the record could not be written."""
    try:
        outcome = await connection.archive.close(
            status=status,
            finals=connection.live.stats.finals,
            total_audio_seconds=total_audio_seconds,
            total_duration=total_duration,
        )
    except Exception:
        log.exception("session.archive_failed", session_id=connection.session_id)
        connection.outbox.put(
            ErrorMessage(
                code=ErrorCode.STORAGE_FAILED,
                message="the session could not be recorded as ended; it will be marked interrupted",
                recoverable=False,
            )
        )
        return None
    if outcome.error:
        connection.outbox.put(ErrorMessage(code=ErrorCode.STORAGE_FAILED, message=outcome.error, recoverable=False))
    return outcome


async def _send_messages(connection: _Connection) -> None:
    """Write the outbox to the socket in order; when it is closed and empty, close the socket."""
    socket = connection.socket
    outbox = connection.outbox
    while (message := await outbox.get()) is not None:
        try:
            for text in connection.dialect.write(message):
                await socket.send_text(text)
        except Exception as exc:  # the client went away
            log.info("session.send_failed", session_id=connection.session_id, error=repr(exc))
            outbox.discard()
            return
    await _close_quietly(socket, outbox.close_code)


async def refuse(socket: WebSocket, dialect: Dialect, code: ErrorCode, message: str, close_code: int) -> None:
    """Send the error (in the socket's dialect) and close with ``close_code``: the session does not start."""
    count_error(code)
    for text in dialect.write(ErrorMessage(code=code, message=message, recoverable=False)):
        await socket.send_text(text)
    await _close_quietly(socket, close_code)


async def _close_quietly(socket: WebSocket, code: int) -> None:
    with contextlib.suppress(Exception):
        await socket.close(code=code)
