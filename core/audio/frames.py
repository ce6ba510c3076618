"""Client audio frames: validation, PCM conversion and streaming resampling to 16 kHz."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import soxr

from core.protocol import AudioEncoding

MODEL_SAMPLE_RATE = 16000
MAX_FRAME_SECONDS = 1.0

_SAMPLE_WIDTH = {AudioEncoding.PCM_S16LE: 2, AudioEncoding.PCM_F32LE: 4}


class InvalidAudio(ValueError):
    """A frame that cannot be accepted (it is dropped; the session continues)."""


@dataclass(frozen=True)
class DecodedFrame:
    pcm16: np.ndarray
    """The frame as int16 at the session's sample rate (what gets recorded)."""
    model_audio: np.ndarray
    """The frame as float32 at 16 kHz (what the models read)."""
    received_at: float = field(default_factory=time.monotonic)
    """When it was decoded, i.e. received (``time.monotonic()``): live latencies count from there."""


class FrameDecoder:
    """Turns a session's binary frames into model audio; keeps the resampler's state across frames."""

    def __init__(self, encoding: AudioEncoding, sample_rate: int) -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.sample_width = _SAMPLE_WIDTH[encoding]
        self.max_frame_bytes = int(sample_rate * MAX_FRAME_SECONDS) * self.sample_width
        self._resampler = (
            None
            if sample_rate == MODEL_SAMPLE_RATE
            else soxr.ResampleStream(sample_rate, MODEL_SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        )

    def decode(self, frame: bytes) -> DecodedFrame:
        if len(frame) > self.max_frame_bytes:
            raise InvalidAudio(
                f"frame of {len(frame)} bytes exceeds 1 s of {self.encoding} audio at "
                f"{self.sample_rate} Hz ({self.max_frame_bytes} bytes)"
            )
        if len(frame) == 0 or len(frame) % self.sample_width:
            raise InvalidAudio(
                f"frame of {len(frame)} bytes is not a whole number of {self.sample_width}-byte samples"
            )
        if self.encoding is AudioEncoding.PCM_S16LE:
            pcm16 = np.frombuffer(frame, dtype="<i2")
            audio = pcm16.astype(np.float32) / 32768.0
        else:
            audio = np.frombuffer(frame, dtype="<f4").astype(np.float32)
            if not np.isfinite(audio).all():
                raise InvalidAudio("frame holds NaN or infinite samples")
            pcm16 = float_to_pcm16(audio)
        if self._resampler is not None:
            audio = self._resampler.resample_chunk(audio)
        return DecodedFrame(pcm16=pcm16, model_audio=audio)

    def drain(self) -> np.ndarray:
        """The resampler's last samples, at the end of the stream."""
        if self._resampler is None:
            return np.zeros(0, dtype=np.float32)
        return self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def float_to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Clip to [-1, 1] and scale to int16 with rounding."""
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
