"""The one async client of Triton: the only code that knows model names, tensor names and shapes."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from control_plane.transcript import Emotion

VAD_MODEL = "vad"
STREAMING_ASR_MODEL = "streaming_asr"
EMOTION_MODEL = "emotion"
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


@dataclass(frozen=True)
class StreamingModel:
    name: str
    """The public model name (``model_name`` parameter)."""
    language: str | None
    """The one language of an English-only model (``language`` parameter); ``None`` if multilingual."""


@dataclass(frozen=True)
class VadOutput:
    speech_probs: np.ndarray
    state: np.ndarray


_asr_decoder = msgspec.json.Decoder(AsrResult)
_emotion_decoder = msgspec.json.Decoder(Emotion)


class InferenceClient:
    """Async gRPC client over ``tritonclient.grpc.aio``; safe to share between sessions."""

    def __init__(self, grpc_url: str, *, timeout_s: float = 30.0) -> None:
        self._client = grpcclient.InferenceServerClient(grpc_url)
        self._timeout_s = timeout_s

    async def close(self) -> None:
        await self._client.close()

    async def ready(self) -> bool:
        try:
            return all([
                await self._client.is_server_ready(),
                await self._client.is_model_ready(VAD_MODEL),
                await self._client.is_model_ready(STREAMING_ASR_MODEL),
            ])
        except InferenceServerException:
            return False

    async def streaming_model(self) -> StreamingModel:
        """What ``streaming_asr``'s config says about the model it serves."""
        try:
            config = await self._client.get_model_config(STREAMING_ASR_MODEL, as_json=True)
        except InferenceServerException as exc:
            raise InferenceUnavailable(str(exc)) from exc
        parameters = {k: v["string_value"] for k, v in config["config"].get("parameters", {}).items()}
        return StreamingModel(name=parameters["model_name"], language=parameters.get("language") or None)

    async def vad(self, audio_with_context: np.ndarray, state: np.ndarray) -> VadOutput:
        """Speech probabilities of each 512-sample window; ``audio_with_context`` starts with 64 samples of context."""
        inputs = [
            _tensor("AUDIO", audio_with_context.astype(np.float32)[None, :], "FP32"),
            _tensor("STATE", state.astype(np.float32)[None, :], "FP32"),
        ]
        result = await self._infer(VAD_MODEL, inputs)
        return VadOutput(result.as_numpy("SPEECH_PROBS").reshape(-1), result.as_numpy("STATE_OUT").reshape(-1))

    async def transcribe(self, audio: np.ndarray, *, word_timestamps: bool, language: str, final: bool) -> AsrResult:
        """Transcribe 16 kHz mono float32 audio of one utterance (``final``: the best decode, not a quick partial)."""
        inputs = [
            _tensor("AUDIO", audio.astype(np.float32)[None, :], "FP32"),
            _tensor("WORD_TIMESTAMPS", np.array([[word_timestamps]], dtype=bool), "BOOL"),
            _tensor("LANGUAGE", np.array([[language.encode()]], dtype=np.object_), "BYTES"),
            _tensor("FINAL", np.array([[final]], dtype=bool), "BOOL"),
        ]
        result = await self._infer(STREAMING_ASR_MODEL, inputs, priority=FINAL_PRIORITY if final else PARTIAL_PRIORITY)
        return _asr_decoder.decode(result.as_numpy("TRANSCRIPT").reshape(-1)[0])

    async def emotion(self, audio: np.ndarray, text: str) -> Emotion:
        """Emotion of one segment from its 16 kHz mono float32 audio and its text."""
        inputs = [
            _tensor("AUDIO", audio.astype(np.float32)[None, :], "FP32"),
            _tensor("TEXT", np.array([[text.encode()]], dtype=np.object_), "BYTES"),
        ]
        result = await self._infer(EMOTION_MODEL, inputs)
        return _emotion_decoder.decode(result.as_numpy("EMOTION").reshape(-1)[0])

    async def _infer(
        self, model: str, inputs: list[grpcclient.InferInput], *, priority: int = 0
    ) -> grpcclient.InferResult:
        try:
            return await self._client.infer(model, inputs, priority=priority, client_timeout=self._timeout_s)
        except InferenceServerException as exc:
            status = exc.status() or ""
            if "UNAVAILABLE" in status or "DEADLINE_EXCEEDED" in status:
                raise InferenceUnavailable(exc.message()) from exc
            raise InferenceFailed(exc.message()) from exc


def _tensor(name: str, value: np.ndarray, datatype: str) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(value.shape), datatype)
    tensor.set_data_from_numpy(value)
    return tensor
