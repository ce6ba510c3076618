"""WebSocket protocol of ``/v1/audio/transcriptions/stream``: every message as a msgspec struct.

The gateway, the tests and the benchmarks import these instead of writing dicts by hand.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from core.transcript import Transcript


class AudioEncoding(StrEnum):
    PCM_S16LE = "pcm_s16le"
    PCM_F32LE = "pcm_f32le"


class ErrorCode(StrEnum):
    INVALID_PARAMETERS = "invalid_parameters"
    INVALID_MESSAGE = "invalid_message"
    INVALID_AUDIO = "invalid_audio"
    MODEL_UNAVAILABLE = "model_unavailable"
    INFERENCE_FAILED = "inference_failed"
    STORAGE_FAILED = "storage_failed"
    SLOW_CONSUMER = "slow_consumer"
    """The client fell too far behind reading its messages; the server closes with 1008."""
    CAPACITY = "capacity"
    """The server already serves its maximum of live sessions; it closes with 4503."""
    ENHANCEMENT_FAILED = "enhancement_failed"
    """The enhancement asked for could not be started (see the message); the session itself is kept."""
    INTERNAL_ERROR = "internal_error"
    UNAUTHORIZED = "unauthorized"
    """No key, or a bad, revoked, used or expired key or token; the server closes with 4401."""
    FORBIDDEN = "forbidden"
    """The key lacks the scope this endpoint needs; the server closes with 4403."""
    RATE_LIMITED = "rate_limited"
    """The key is over its requests per minute; the server closes with 4429."""


class WarningCode(StrEnum):
    PROCESSING_LAG = "processing_lag"
    ENHANCEMENT_DEFERRED = "enhancement_deferred"
    """The enhancement job is created when the server recovers (its id is already the one announced)."""
    RECORDING_FAILED = "recording_failed"
    """The recording could not be stored; transcription goes on, the session ends ``failed``."""


class CloseCode:
    """WebSocket close codes used by the gateway."""

    NORMAL = 1000
    POLICY_VIOLATION = 1008
    """Sent after ``slow_consumer``."""
    INTERNAL_ERROR = 1011
    INVALID_PARAMETERS = 4400
    MODEL_UNAVAILABLE = 4503
    CAPACITY = 4503
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    RATE_LIMITED = 4429


# --- session parameters ----------------------------------------------------------------------


class SessionParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """Effective parameters of a live session (query string, then ``config`` messages)."""

    language: str = "auto"
    model: str = ""
    encoding: AudioEncoding = AudioEncoding.PCM_S16LE
    sample_rate: int = msgspec.field(default=16000)
    interim_results: bool = True
    word_timestamps: bool = False
    enable_vad: bool = True
    store_audio: bool = False
    store_transcript: bool = False
    enhance_on_end: bool = False
    enhance_llm_cleanup: bool = False
    enhance_emotions: bool = False
    enhance_wait: bool = False
    """Keep the socket open after ``session.end`` and push the enhancement's progress and result."""
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    diarize: bool = False
    """Live speaker labels: every final and its words carry a provisional ``speaker`` (``S0``, ``S1``...)."""


# --- client -> server ------------------------------------------------------------------------


class ConfigMessage(msgspec.Struct, tag="config", tag_field="type", kw_only=True):
    """Changes parameters that may change mid-session (language, interim results, word times)."""

    language: str | None = None
    interim_results: bool | None = None
    word_timestamps: bool | None = None
    enable_vad: bool | None = None
    """Turn detection on or off (the compatible doors' session updates); set it before the audio."""


class FlushMessage(msgspec.Struct, tag="flush", tag_field="type"):
    """Finalize buffered speech now."""


class EndMessage(msgspec.Struct, tag="end", tag_field="type"):
    """Finalize and close the session."""


ClientMessage = ConfigMessage | FlushMessage | EndMessage


# --- server -> client ------------------------------------------------------------------------


class Word(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A word and its times; its text is sent twice, as ``word`` (OpenAI) and ``text`` (ElevenLabs, Dalston)."""

    word: str
    start: float
    end: float
    confidence: float
    text: str = ""
    """Always equal to ``word`` (filled in when left empty)."""
    speaker: str | None = None
    """With ``diarize``: the provisional live speaker label (``S0``, ``S1``...)."""

    def __post_init__(self) -> None:
        if not self.text:
            self.text = self.word


class Segment(msgspec.Struct, kw_only=True, omit_defaults=True):
    start: float
    end: float
    text: str
    speaker: str | None = None
    """With ``diarize``: the live speaker label of the final."""


class SessionBegin(msgspec.Struct, tag="session.begin", tag_field="type", kw_only=True):
    session_id: str
    model: str
    language: str
    sample_rate: int
    encoding: AudioEncoding
    config: SessionParams


class SpeechStart(msgspec.Struct, tag="vad.speech_start", tag_field="type", kw_only=True):
    timestamp: float


class SpeechEnd(msgspec.Struct, tag="vad.speech_end", tag_field="type", kw_only=True):
    timestamp: float


class TranscriptPartial(msgspec.Struct, tag="transcript.partial", tag_field="type", kw_only=True, omit_defaults=True):
    text: str
    start: float
    end: float
    stable_text: str | None = None
    """The committed prefix of ``text``: later partials of the utterance and its final keep it."""


class TranscriptFinal(msgspec.Struct, tag="transcript.final", tag_field="type", kw_only=True, omit_defaults=True):
    text: str
    start: float
    end: float
    confidence: float
    words: list[Word] | None = None
    speaker: str | None = None
    """With ``diarize``: the provisional live speaker label (``S0``, ``S1``... by first appearance)."""


class WarningMessage(msgspec.Struct, tag="warning", tag_field="type", kw_only=True):
    code: WarningCode
    message: str


class ErrorMessage(msgspec.Struct, tag="error", tag_field="type", kw_only=True):
    code: ErrorCode
    message: str
    recoverable: bool


class SessionEnd(msgspec.Struct, tag="session.end", tag_field="type", kw_only=True):
    session_id: str
    total_duration: float
    total_audio_seconds: float
    transcript: str
    segments: list[Segment]
    audio_uri: str | None = None
    enhancement_job_id: str | None = None


class EnhancementProgress(msgspec.Struct, tag="enhancement.progress", tag_field="type", kw_only=True):
    """With ``enhance_wait``: the enhancement job moved on."""

    enhancement_job_id: str
    progress: int
    current_stage: str | None


class EnhancementCompleted(msgspec.Struct, tag="enhancement.completed", tag_field="type", kw_only=True):
    """With ``enhance_wait``: the enhanced transcript (the job result); the server closes after it."""

    enhancement_job_id: str
    transcript: Transcript


class EnhancementFailed(msgspec.Struct, tag="enhancement.failed", tag_field="type", kw_only=True):
    enhancement_job_id: str
    error: str


ServerMessage = (
    SessionBegin
    | SpeechStart
    | SpeechEnd
    | TranscriptPartial
    | TranscriptFinal
    | WarningMessage
    | ErrorMessage
    | SessionEnd
    | EnhancementProgress
    | EnhancementCompleted
    | EnhancementFailed
)

_client_decoder = msgspec.json.Decoder(ClientMessage)
_server_decoder = msgspec.json.Decoder(ServerMessage)
_encoder = msgspec.json.Encoder()


def decode_client_message(data: str | bytes) -> ClientMessage:
    """Parse a client text frame; raises ``msgspec.ValidationError``/``DecodeError`` on bad input."""
    return _client_decoder.decode(data)


def decode_server_message(data: str | bytes) -> ServerMessage:
    """Parse a server text frame (used by clients: tests, benchmarks, the CLI)."""
    return _server_decoder.decode(data)


def encode_message(message: ServerMessage | ClientMessage) -> str:
    return _encoder.encode(message).decode()


QUERY_PARAMS = frozenset(f.name for f in msgspec.structs.fields(SessionParams))


def parse_session_params(query: dict[str, str]) -> SessionParams:
    """Validate the known query parameters (unknown ones are ignored, as SPEC requires).

    Raises ``ValueError`` with a user-facing message on an invalid value or combination.
    """
    known = {name: value for name, value in query.items() if name in QUERY_PARAMS}
    try:
        params = msgspec.convert(known, SessionParams, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    if not 8000 <= params.sample_rate <= 48000:
        raise ValueError("sample_rate must be between 8000 and 48000")
    for name in ("num_speakers", "min_speakers", "max_speakers"):
        value = getattr(params, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1")
    if params.min_speakers and params.max_speakers and params.min_speakers > params.max_speakers:
        raise ValueError("min_speakers must not exceed max_speakers")
    if params.enhance_on_end and not params.store_audio:
        raise ValueError("enhance_on_end=true requires store_audio=true")
    if (params.enhance_llm_cleanup or params.enhance_emotions or params.enhance_wait) and not params.enhance_on_end:
        raise ValueError("enhance_llm_cleanup, enhance_emotions and enhance_wait require enhance_on_end=true")
    return params
