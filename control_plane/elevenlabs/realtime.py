"""``WS /v1/speech-to-text/realtime``: ElevenLabs' realtime speech-to-text on Tandem's live session.

Query: ``model_id``, ``audio_format`` (``pcm_8000``…``pcm_48000``), ``language_code``,
``commit_strategy`` (``manual``, ElevenLabs' default, or ``vad``), ``vad_silence_threshold_secs``,
``include_timestamps``. Client: ``{"message_type": "input_audio_chunk", "audio_base_64", "commit",
"sample_rate"}``. Server: ``session_started``, ``partial_transcript``, ``committed_transcript`` (and
``committed_transcript_with_timestamps`` when asked), errors under ElevenLabs' message types.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import WebSocket, websocket

from control_plane.elevenlabs.words import elevenlabs_words
from control_plane.live.dialect import Incoming, Reply, split_audio
from control_plane.live.gateway import refuse, serve_live
from core.protocol import (
    CloseCode,
    ErrorCode,
    ErrorMessage,
    FlushMessage,
    ServerMessage,
    SessionBegin,
    SessionParams,
    TranscriptFinal,
    TranscriptPartial,
)

_SAMPLE_RATES = {f"pcm_{rate}": rate for rate in (8000, 16000, 22050, 24000, 44100, 48000)}
_ERROR_TYPES = {
    ErrorCode.INVALID_MESSAGE: "input_error",
    ErrorCode.INVALID_AUDIO: "chunk_size_exceeded",
    ErrorCode.INVALID_PARAMETERS: "invalid_request",
    ErrorCode.CAPACITY: "resource_exhausted",
}
_decoder = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


@dataclass
class ElevenLabsRealtimeDialect:
    """Translates ElevenLabs' realtime messages to and from a Tandem live session."""

    model_id: str
    audio_format: str
    sample_rate: int
    language_code: str | None
    commit_strategy: str
    include_timestamps: bool
    vad_silence_threshold_secs: float | None

    def read(self, text: str) -> list[Incoming]:
        message = _decoder.decode(text)
        if message.get("message_type") != "input_audio_chunk":
            raise ValueError(f"message_type {message.get('message_type')!r} is not supported")
        sample_rate = message.get("sample_rate")
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise ValueError(f"sample_rate {sample_rate} differs from the session's audio_format {self.audio_format}")
        try:
            audio = base64.b64decode(message.get("audio_base_64") or "", validate=True)
        except binascii.Error as exc:
            raise ValueError("audio_base_64 is not base64") from exc
        items: list[Incoming] = list(split_audio(audio, self.sample_rate * 2))
        if message.get("commit"):
            items.append(FlushMessage())
        return items

    def write(self, message: ServerMessage | Reply) -> list[str]:
        if isinstance(message, Reply):
            return [message.text]
        if isinstance(message, SessionBegin):
            return [self._encode("session_started", session_id=message.session_id, config=self._config())]
        if isinstance(message, TranscriptPartial):
            return [self._encode("partial_transcript", text=message.text)]
        if isinstance(message, TranscriptFinal):
            frames = [self._encode("committed_transcript", text=message.text)]
            if self.include_timestamps:
                words = msgspec.to_builtins(elevenlabs_words(message.words or []))
                frames.append(
                    self._encode(
                        "committed_transcript_with_timestamps",
                        text=message.text,
                        language_code=self.language_code,
                        words=words,
                    )
                )
            return frames
        if isinstance(message, ErrorMessage):
            return [self._encode(_ERROR_TYPES.get(message.code, "error"), error=message.message)]
        return []

    def _config(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "audio_format": self.audio_format,
            "language_code": self.language_code,
            "commit_strategy": self.commit_strategy,
            "vad_silence_threshold_secs": self.vad_silence_threshold_secs,
            "model_id": self.model_id,
            "include_timestamps": self.include_timestamps,
        }

    @staticmethod
    def _encode(message_type: str, **fields: Any) -> str:
        return _encoder.encode({"message_type": message_type} | fields).decode()


@websocket("/v1/speech-to-text/realtime")
async def elevenlabs_realtime(socket: WebSocket) -> None:
    """ElevenLabs' realtime speech-to-text session on a Tandem live session."""
    await socket.accept()
    query = {key: value for key, value in socket.query_params.items() if value not in ("", "null")}
    audio_format = query.get("audio_format", "pcm_16000")
    dialect = ElevenLabsRealtimeDialect(
        model_id=query.get("model_id", ""),
        audio_format=audio_format,
        sample_rate=_SAMPLE_RATES.get(audio_format, 16000),
        language_code=query.get("language_code"),
        commit_strategy=query.get("commit_strategy", "manual"),
        include_timestamps=query.get("include_timestamps", "false").lower() == "true",
        vad_silence_threshold_secs=None,
    )
    try:
        if audio_format not in _SAMPLE_RATES:
            raise ValueError(f"audio_format {audio_format!r} is not supported; use one of {', '.join(_SAMPLE_RATES)}")
        if dialect.commit_strategy not in ("manual", "vad"):
            raise ValueError("commit_strategy must be 'manual' or 'vad'")
        if "vad_silence_threshold_secs" in query:
            dialect.vad_silence_threshold_secs = float(query["vad_silence_threshold_secs"])
            if not 0.3 <= dialect.vad_silence_threshold_secs <= 3.0:
                raise ValueError("vad_silence_threshold_secs must be between 0.3 and 3.0")
    except ValueError as exc:
        await refuse(socket, dialect, ErrorCode.INVALID_PARAMETERS, str(exc), CloseCode.INVALID_PARAMETERS)
        return
    params = SessionParams(
        sample_rate=dialect.sample_rate,
        language=dialect.language_code or "auto",
        enable_vad=dialect.commit_strategy == "vad",
        word_timestamps=dialect.include_timestamps,
    )
    await serve_live(socket, params, dialect, vad_min_silence_s=dialect.vad_silence_threshold_secs)
