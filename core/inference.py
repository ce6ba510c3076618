"""The one async client of Triton: the only code that knows model names, tensor names and shapes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from core.live_models import STREAMING_ASR_MODEL, LiveModels, StreamingModel, is_live_profile
from core.transcript import Emotion

VAD_MODEL = "vad"
VAD_WINDOW_SAMPLES = 512
"""Silero's window (32 ms at 16 kHz); ``vad`` returns one speech probability per window."""
VAD_CONTEXT_SAMPLES = 64
"""Samples before the first window that each ``vad`` request starts with."""
VAD_STATE_SIZE = 256
"""Silero's recurrent state, carried from one ``vad`` request to the next."""
BATCH_ASR_MODEL = "batch_asr"
SPEAKER_EMBEDDING_MODEL = "speaker_embedding"
LIVE_SPEAKER_EMBEDDING_MODEL = "live_speaker_embedding"
"""The same embedding model for live speaker labels, not niced (enhancement's model yields the CPU)."""
SPEAKER_EMBEDDING_MAX_WINDOWS = 64
"""Windows per ``speaker_embedding`` request (the batcher joins requests up to its max batch)."""
SPEAKER_OVERLAP_MODEL = "speaker_overlap"
SPEAKER_OVERLAP_CHUNK_SAMPLES = 160_000
"""The overlap model's chunk: 10 s of 16 kHz audio."""
SPEAKER_OVERLAP_MAX_CHUNKS = 8
"""Chunks per ``speaker_overlap`` request."""
EMOTION_MODEL = "emotion"
ALL_MODELS = (
    VAD_MODEL,
    STREAMING_ASR_MODEL,
    BATCH_ASR_MODEL,
    SPEAKER_EMBEDDING_MODEL,
    LIVE_SPEAKER_EMBEDDING_MODEL,
    SPEAKER_OVERLAP_MODEL,
    EMOTION_MODEL,
)
"""Every model of the repository: readiness of the whole stack (live and enhancement)."""
FINAL_PRIORITY = 1
PARTIAL_PRIORITY = 2
"""Priority levels of ``streaming_asr``'s dynamic batcher (1 is served first)."""


class InferenceUnavailable(RuntimeError):
    """Triton does not answer, or a model is not ready."""


class InferenceFailed(RuntimeError):
    """Triton answered with an error for this request."""


class WordTiming(msgspec.Struct):
    word: str
    start: float
    end: float
    confidence: float


class AsrResult(msgspec.Struct):
    """Transcript of one utterance; times in seconds from the start of the audio sent."""

    text: str
    confidence: float
    language: str
    words: list[WordTiming] = []


class ChunkSegment(msgspec.Struct):
    """One of Whisper's segments in a chunk; times in seconds from the start of the chunk."""

    text: str
    start: float
    end: float
    confidence: float
    words: list[WordTiming] = []


class ChunkTranscript(msgspec.Struct):
    """``batch_asr``'s answer for one chunk."""

    language: str
    segments: list[ChunkSegment] = []


@dataclass(frozen=True)
class VadOutput:
    speech_probs: np.ndarray
    state: np.ndarray


_asr_decoder = msgspec.json.Decoder(AsrResult)
_chunk_decoder = msgspec.json.Decoder(ChunkTranscript)
_emotion_decoder = msgspec.json.Decoder(Emotion)


class InferenceClient:
    """Async gRPC client over ``tritonclient.grpc.aio``; safe to share between sessions."""

    def __init__(
        self,
        grpc_url: str,
        *,
        timeout_s: float = 30.0,
        batch_timeout_s: float = 900.0,
        batch_requests_in_flight: int = 0,
    ) -> None:
        """``batch_timeout_s`` bounds ``batch_asr``/``speaker_embedding`` requests: with several jobs a
        request can wait minutes in Triton's queue (measured: a 5-minute diarized job failed its
        embeddings after 30 s under load). ``batch_requests_in_flight`` (0: no bound) is how many of
        those requests this client has sent and not yet had answered: the others wait here, so a
        long job neither floods Triton's queue (and memory) nor spends its deadline there."""
        self._client = grpcclient.InferenceServerClient(grpc_url)
        self._timeout_s = timeout_s
        self._batch_timeout_s = batch_timeout_s
        self.batch_requests_in_flight = batch_requests_in_flight
        self._batch_slots = asyncio.Semaphore(batch_requests_in_flight) if batch_requests_in_flight else None

    async def close(self) -> None:
        await self._client.close()

    async def ready(self) -> bool:
        """The server and the live models (``vad``, ``streaming_asr``) are ready."""
        return await self.models_ready((VAD_MODEL, STREAMING_ASR_MODEL))

    async def models_ready(self, models: tuple[str, ...]) -> bool:
        """The server and each of ``models`` are ready (e.g. ``(VAD_MODEL, BATCH_ASR_MODEL)`` for jobs)."""
        try:
            return await self._client.is_server_ready() and all(
                [await self._client.is_model_ready(model) for model in models]
            )
        except InferenceServerException:
            return False

    async def live_models(self) -> LiveModels:
        """The live profiles the repository serves: every ready ``streaming_asr[_<profile>]`` model."""
        try:
            index = await self._client.get_model_repository_index(as_json=True)
            names = sorted(
                m["name"] for m in index.get("models", []) if m.get("state") == "READY" and is_live_profile(m["name"])
            )
            profiles = [await self._served_model(name) for name in names]
        except InferenceServerException as exc:
            raise InferenceUnavailable(str(exc)) from exc
        return LiveModels(tuple(profiles))

    async def batch_model(self) -> StreamingModel:
        """The model ``batch_asr`` serves (jobs and enhancement): its public name and languages."""
        try:
            return await self._served_model(BATCH_ASR_MODEL)
        except InferenceServerException as exc:
            raise InferenceUnavailable(str(exc)) from exc

    async def _served_model(self, triton_model: str) -> StreamingModel:
        """A model's public name and languages, from its config's ``model_name``/``language`` parameters."""
        config = await self._client.get_model_config(triton_model, as_json=True)
        parameters = {k: v.get("string_value", "") for k, v in config["config"].get("parameters", {}).items()}
        language = parameters.get("language") or None
        if language:
            languages = frozenset({language})
        else:
            from faster_whisper.tokenizer import _LANGUAGE_CODES  # only a multilingual model needs the list

            languages = frozenset(_LANGUAGE_CODES)
        return StreamingModel(
            name=parameters["model_name"],
            triton_model=triton_model,
            language=language,
            languages=languages,
            accurate=parameters.get("accurate", "").lower() == "true",
        )

    async def speaker_embedding_model(self) -> str:
        """Which embedding model ``speaker_embedding`` serves (``architecture:model_path`` from its config).

        Voiceprints are only comparable with embeddings of the same model.
        """
        try:
            config = await self._client.get_model_config(SPEAKER_EMBEDDING_MODEL, as_json=True)
        except InferenceServerException as exc:
            raise InferenceUnavailable(str(exc)) from exc
        parameters = {k: v.get("string_value", "") for k, v in config["config"].get("parameters", {}).items()}
        return f"{parameters.get('architecture', '')}:{parameters.get('model_path', '')}"[:128]

    async def vad(self, audio_with_context: np.ndarray, state: np.ndarray) -> VadOutput:
        """Speech probabilities of each ``VAD_WINDOW_SAMPLES`` window; ``audio_with_context`` starts with
        ``VAD_CONTEXT_SAMPLES`` samples of context."""
        inputs = [
            _tensor("AUDIO", audio_with_context.astype(np.float32)[None, :], "FP32"),
            _tensor("STATE", state.astype(np.float32)[None, :], "FP32"),
        ]
        result = await self._infer(VAD_MODEL, inputs)
        return VadOutput(result.as_numpy("SPEECH_PROBS").reshape(-1), result.as_numpy("STATE_OUT").reshape(-1))

    async def transcribe(
        self,
        audio: np.ndarray,
        *,
        word_timestamps: bool,
        language: str,
        final: bool,
        prompt: str = "",
        prefix: str = "",
        model: str,
    ) -> AsrResult:
        """Transcribe 16 kHz mono float32 audio of one utterance with the live profile ``model`` (a
        Triton model name; ``final``: the best decode, not a quick partial).

        ``prompt``: text said before it (context); ``prefix``: text its transcript must start with.
        """
        inputs = [
            _tensor("AUDIO", audio.astype(np.float32)[None, :], "FP32"),
            _tensor("WORD_TIMESTAMPS", np.array([[word_timestamps]], dtype=bool), "BOOL"),
            _tensor("LANGUAGE", np.array([[language.encode()]], dtype=np.object_), "BYTES"),
            _tensor("FINAL", np.array([[final]], dtype=bool), "BOOL"),
            _tensor("PROMPT", np.array([[prompt.encode()]], dtype=np.object_), "BYTES"),
            _tensor("PREFIX", np.array([[prefix.encode()]], dtype=np.object_), "BYTES"),
        ]
        result = await self._infer(model, inputs, priority=FINAL_PRIORITY if final else PARTIAL_PRIORITY)
        return _asr_decoder.decode(result.as_numpy("TRANSCRIPT").reshape(-1)[0])

    async def transcribe_chunk(
        self, audio: np.ndarray | Callable[[], np.ndarray], *, language: str, prompt: str = ""
    ) -> ChunkTranscript:
        """Transcribe one chunk (16 kHz mono float32, at most 30 s) of a recording with ``batch_asr``:
        beam search, Whisper's segments with word times; ``prompt`` is the text said before it.
        ``audio`` may be a function reading the chunk: it is called only once the request may go."""
        result = await self._infer_batch(
            BATCH_ASR_MODEL,
            lambda: [
                _tensor("AUDIO", (audio() if callable(audio) else audio).astype(np.float32)[None, :], "FP32"),
                _tensor("LANGUAGE", np.array([[language.encode()]], dtype=np.object_), "BYTES"),
                _tensor("PROMPT", np.array([[prompt.encode()]], dtype=np.object_), "BYTES"),
            ],
        )
        return _chunk_decoder.decode(result.as_numpy("SEGMENTS").reshape(-1)[0])

    async def embed_speakers(self, windows: np.ndarray, *, live: bool = False) -> np.ndarray:
        """Speaker embeddings of equal-length 16 kHz windows: ``(n, samples)`` → ``(n, dim)``, rows L2-normalised.

        ``live``: a live session's request (``live_speaker_embedding``, with the live timeout).
        """
        windows = np.asarray(windows, dtype=np.float32)
        size = SPEAKER_EMBEDDING_MAX_WINDOWS
        chunks = [windows[i : i + size] for i in range(0, len(windows), size)]
        if live:
            model, timeout_s = LIVE_SPEAKER_EMBEDDING_MODEL, self._timeout_s
            requests = (self._infer(model, [_tensor("AUDIO", chunk, "FP32")], timeout_s=timeout_s) for chunk in chunks)
        else:
            requests = (self._infer_batch(SPEAKER_EMBEDDING_MODEL, _audio_input(chunk)) for chunk in chunks)
        results = await asyncio.gather(*requests)
        embeddings = [result.as_numpy("EMBEDDING") for result in results]
        return np.concatenate(embeddings) if embeddings else np.zeros((0, 0), dtype=np.float32)

    async def overlap_probabilities(self, chunks: np.ndarray) -> tuple[np.ndarray, float]:
        """Per frame, the probability that two people speak at once, of 10 s chunks of 16 kHz audio:
        ``(n, SPEAKER_OVERLAP_CHUNK_SAMPLES)`` → ``((n, frames), seconds between frames)``."""
        chunks = np.asarray(chunks, dtype=np.float32)
        size = SPEAKER_OVERLAP_MAX_CHUNKS
        results = await asyncio.gather(
            *(
                self._infer_batch(SPEAKER_OVERLAP_MODEL, _audio_input(chunks[i : i + size]))
                for i in range(0, len(chunks), size)
            )
        )
        if not results:
            return np.zeros((0, 0), dtype=np.float32), 0.0
        probabilities = np.concatenate([result.as_numpy("OVERLAP") for result in results])
        return probabilities, float(results[0].as_numpy("FRAME_STEP_S").reshape(-1)[0])

    async def emotion(self, audio: np.ndarray, text: str) -> Emotion:
        """Emotion of one segment from its 16 kHz mono float32 audio and its text."""
        inputs = [
            _tensor("AUDIO", audio.astype(np.float32)[None, :], "FP32"),
            _tensor("TEXT", np.array([[text.encode()]], dtype=np.object_), "BYTES"),
        ]
        result = await self._infer(EMOTION_MODEL, inputs)
        return _emotion_decoder.decode(result.as_numpy("EMOTION").reshape(-1)[0])

    async def _infer_batch(
        self, model: str, make_inputs: Callable[[], list[grpcclient.InferInput]]
    ) -> grpcclient.InferResult:
        """A request of recorded audio: at most ``batch_requests_in_flight`` at once, ``batch_timeout_s``
        each; its inputs are serialized only once it may go (queued requests hold no copy)."""
        async with self._batch_slots or contextlib.nullcontext():
            return await self._infer(model, make_inputs(), timeout_s=self._batch_timeout_s)

    async def _infer(
        self, model: str, inputs: list[grpcclient.InferInput], *, priority: int = 0, timeout_s: float | None = None
    ) -> grpcclient.InferResult:
        try:
            return await self._client.infer(
                model, inputs, priority=priority, client_timeout=timeout_s or self._timeout_s
            )
        except InferenceServerException as exc:
            status = exc.status() or ""
            if "UNAVAILABLE" in status or "DEADLINE_EXCEEDED" in status:
                raise InferenceUnavailable(exc.message()) from exc
            raise InferenceFailed(exc.message()) from exc


def _tensor(name: str, value: np.ndarray, datatype: str) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(value.shape), datatype)
    tensor.set_data_from_numpy(value)
    return tensor


def _audio_input(windows: np.ndarray) -> Callable[[], list[grpcclient.InferInput]]:
    return lambda: [_tensor("AUDIO", windows, "FP32")]
