"""``WS /v1/realtime?intent=transcription``: OpenAI's realtime transcription on Tandem's live session.

Client events: the GA ``session.update`` (``session.type: "transcription"``, ``audio.input.{format,
transcription, turn_detection}``) and the beta ``transcription_session.update`` (flat fields), each
answered by its ``….updated``; ``input_audio_buffer.append`` (base64 PCM16 at 24 kHz, resampled by the
session's decoder) and ``input_audio_buffer.commit``. Server events: ``session.created``,
``input_audio_buffer.speech_started/stopped``, ``input_audio_buffer.committed``,
``conversation.item.input_audio_transcription.delta`` (the growth of the session's stable text, so the
deltas join to the final) and ``.completed``, ``error``. Field names as in the ``openai`` SDK's
``types/realtime``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import WebSocket, websocket

from control_plane.live.dialect import Incoming, Reply, split_audio
from control_plane.live.gateway import serve_live
from control_plane.openai.errors import INVALID_REQUEST, SERVER_ERROR
from control_plane.openai.models import OPENAI_PREFIX
from core.protocol import (
    ConfigMessage,
    ErrorCode,
    ErrorMessage,
    FlushMessage,
    ServerMessage,
    SessionBegin,
    SessionParams,
    SpeechEnd,
    SpeechStart,
    TranscriptFinal,
    TranscriptPartial,
)

INPUT_SAMPLE_RATE = 24000
"""OpenAI's ``audio/pcm`` (``pcm16``): 16-bit mono at 24 kHz."""
_FRAME_BYTES = INPUT_SAMPLE_RATE * 2
_CLIENT_ERRORS = {ErrorCode.INVALID_MESSAGE, ErrorCode.INVALID_AUDIO, ErrorCode.INVALID_PARAMETERS}
_decoder = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


def _event_id() -> str:
    return f"event_{uuid.uuid4().hex[:20]}"


def _item_id() -> str:
    return f"item_{uuid.uuid4().hex[:20]}"


@dataclass
class _Item:
    """One utterance as a conversation item: its id and the transcript text sent as deltas so far."""

    id: str
    sent: str = ""


@dataclass
class OpenAIRealtimeDialect:
    """Translates OpenAI's realtime transcription events to and from a Tandem live session."""

    model: str = "gpt-4o-transcribe"
    language: str | None = None
    server_vad: bool = True
    session_id: str = ""
    _items: deque[_Item] = field(default_factory=deque)
    """Utterances not yet completed, oldest first (a final completes the oldest; partials grow the newest)."""
    _previous_item_id: str | None = None

    # --- client -> session ---

    def read(self, text: str) -> list[Incoming]:
        event = _decoder.decode(text)
        kind = event.get("type")
        if kind == "input_audio_buffer.append":
            try:
                audio = base64.b64decode(event.get("audio") or "", validate=True)
            except binascii.Error as exc:
                raise ValueError("input_audio_buffer.append: `audio` is not base64") from exc
            return list(split_audio(audio, _FRAME_BYTES))
        if kind == "input_audio_buffer.commit":
            return [FlushMessage()]
        if kind == "session.update":
            return self._update(event.get("session") or {}, beta=False)
        if kind == "transcription_session.update":
            return self._update(event.get("session") or {}, beta=True)
        raise ValueError(f"event type {kind!r} is not supported on a transcription session")

    def _update(self, session: dict[str, Any], *, beta: bool) -> list[Incoming]:
        if beta:
            audio_format = session.get("input_audio_format")
            transcription = session.get("input_audio_transcription")
            has_turn_detection, turn_detection = "turn_detection" in session, session.get("turn_detection")
        else:
            if session.get("type", "transcription") != "transcription":
                raise ValueError("only transcription sessions are served (session.type must be 'transcription')")
            audio_input = (session.get("audio") or {}).get("input") or {}
            audio_format = audio_input.get("format")
            transcription = audio_input.get("transcription")
            has_turn_detection, turn_detection = "turn_detection" in audio_input, audio_input.get("turn_detection")
        _check_format(audio_format)
        if transcription:
            self.model = transcription.get("model") or self.model
            self.language = transcription.get("language") or self.language
        if has_turn_detection:
            self.server_vad = turn_detection is not None
        config = ConfigMessage(language=self.language, enable_vad=self.server_vad)
        updated = "transcription_session.updated" if beta else "session.updated"
        session_body = self._beta_session() if beta else self._session()
        return [config, Reply(self._encode({"type": updated, "event_id": _event_id(), "session": session_body}))]

    # --- session -> client ---

    def write(self, message: ServerMessage | Reply) -> list[str]:
        if isinstance(message, Reply):
            return [message.text]
        if isinstance(message, SessionBegin):
            self.session_id = message.session_id
            return [self._encode({"type": "session.created", "event_id": _event_id(), "session": self._session()})]
        if isinstance(message, SpeechStart):
            self._items.append(_Item(_item_id()))
            return [self._event("input_audio_buffer.speech_started", audio_start_ms=_ms(message.timestamp))]
        if isinstance(message, SpeechEnd):
            return [self._event("input_audio_buffer.speech_stopped", audio_end_ms=_ms(message.timestamp))]
        if isinstance(message, TranscriptPartial):
            return self._deltas(self._current_item(), message.stable_text or "")
        if isinstance(message, TranscriptFinal):
            return self._complete(message)
        if isinstance(message, ErrorMessage):
            error_type = INVALID_REQUEST if message.code in _CLIENT_ERRORS else SERVER_ERROR
            error = {"type": error_type, "code": message.code.value, "message": message.message, "param": None}
            return [self._encode({"type": "error", "event_id": _event_id(), "error": error})]
        return []

    def _current_item(self) -> _Item:
        if not self._items:
            self._items.append(_Item(_item_id()))
        return self._items[-1]

    def _deltas(self, item: _Item, text: str) -> list[str]:
        """A delta with what ``text`` adds to the item's sent text (none where it does not extend it)."""
        if len(text) <= len(item.sent) or not text.startswith(item.sent):
            return []
        delta, item.sent = text[len(item.sent) :], text
        return [self._event("conversation.item.input_audio_transcription.delta", item.id, content_index=0, delta=delta)]

    def _complete(self, final: TranscriptFinal) -> list[str]:
        if not self._items:
            self._items.append(_Item(_item_id()))
        item = self._items.popleft()
        frames = self._deltas(item, final.text)
        frames.append(self._event("input_audio_buffer.committed", item.id, previous_item_id=self._previous_item_id))
        usage = {"type": "duration", "seconds": round(final.end - final.start, 3)}
        frames.append(
            self._event(
                "conversation.item.input_audio_transcription.completed",
                item.id,
                content_index=0,
                transcript=final.text,
                usage=usage,
            )
        )
        self._previous_item_id = item.id
        return frames

    def _event(self, kind: str, item_id: str | None = None, **fields: Any) -> str:
        body: dict[str, Any] = {"type": kind, "event_id": _event_id()}
        body["item_id"] = item_id or self._current_item().id
        return self._encode(body | fields)

    def _session(self) -> dict[str, Any]:
        """The GA transcription session object (``RealtimeTranscriptionSessionCreateResponse``)."""
        turn_detection = {"type": "server_vad"} if self.server_vad else None
        return {
            "id": self.session_id,
            "object": "realtime.transcription_session",
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": INPUT_SAMPLE_RATE},
                    "transcription": {"model": self.model, "language": self.language},
                    "turn_detection": turn_detection,
                }
            },
        }

    def _beta_session(self) -> dict[str, Any]:
        """The beta session object (``types/beta/realtime/transcription_session``)."""
        return {
            "id": self.session_id,
            "object": "realtime.transcription_session",
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": self.model, "language": self.language},
            "turn_detection": {"type": "server_vad"} if self.server_vad else None,
            "modalities": ["text"],
        }

    @staticmethod
    def _encode(body: dict[str, Any]) -> str:
        return _encoder.encode(body).decode()


def _check_format(audio_format: Any) -> None:
    """Only 16-bit PCM at 24 kHz (``audio/pcm``, beta ``pcm16``) is accepted."""
    if audio_format is None or audio_format == "pcm16":
        return
    if (
        isinstance(audio_format, dict)
        and audio_format.get("type", "audio/pcm") == "audio/pcm"
        and audio_format.get("rate", INPUT_SAMPLE_RATE) == INPUT_SAMPLE_RATE
    ):
        return
    raise ValueError(f"input audio format {audio_format!r} is not supported; send audio/pcm at 24000 Hz (pcm16)")


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


@websocket(["/v1/realtime", f"{OPENAI_PREFIX}/realtime"])
async def openai_realtime(socket: WebSocket) -> None:
    """OpenAI's realtime transcription session (``?intent=transcription``) on a Tandem live session."""
    await socket.accept()
    language = socket.query_params.get("language")
    params = SessionParams(sample_rate=INPUT_SAMPLE_RATE, language=language or "auto")
    await serve_live(socket, params, OpenAIRealtimeDialect(language=language))
