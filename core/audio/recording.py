"""Records a session's audio as a 16-bit PCM mono WAV object while it streams."""

from __future__ import annotations

import io
import wave

import numpy as np
import numpy.typing as npt

from core.audio.frames import float_to_pcm16
from core.storage.base import ObjectAppender, ObjectStore
from core.storage.keys import session_audio_key

WAV_HEADER_BYTES = 44
SAMPLE_BYTES = 2
MAX_DATA_BYTES = 0xFFFFFFFF - (WAV_HEADER_BYTES - 8)
"""RIFF sizes are 32-bit: at 16 kHz a WAV holds about 37 hours."""


def wav_header(sample_rate: int, frames: int) -> bytes:
    """The 44-byte header of a 16-bit PCM mono WAV holding ``frames`` samples."""
    buffer = io.BytesIO()
    writer = wave.open(buffer, "wb")
    writer.setnchannels(1)
    writer.setsampwidth(SAMPLE_BYTES)
    writer.setframerate(sample_rate)
    writer.setnframes(frames)
    writer.writeframesraw(b"")  # emits the header, sized from nframes
    header = buffer.getvalue()
    writer.close()  # patches the buffer down to the 0 bytes actually written; header is kept
    return header


class AudioRecorder:
    """Appends a session's samples to ``sessions/{id}/audio.wav``; memory stays bounded.

    On a store that supports checkpoints (the local folder) the header is rewritten about once
    per second of audio, so a killed process leaves a playable WAV. Writes may upload a part
    to S3, so call them off the event loop.
    """

    def __init__(self, appender: ObjectAppender, uri: str, sample_rate: int) -> None:
        self._appender = appender
        self.uri = uri
        self.sample_rate = sample_rate
        self._frames_written = 0
        self._checkpointed_frames = 0
        self._closed = False

    @classmethod
    def start(cls, store: ObjectStore, session_id: str, sample_rate: int) -> AudioRecorder:
        """Begin recording ``session_id`` at its input ``sample_rate``."""
        key = session_audio_key(session_id)
        return cls(store.open_appender(key, WAV_HEADER_BYTES), store.uri(key), sample_rate)

    @property
    def frames_written(self) -> int:
        """Samples recorded so far."""
        return self._frames_written

    def write_pcm16(self, samples: npt.NDArray[np.int16]) -> None:
        """Append mono int16 samples as they are."""
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise ValueError(f"expected 1-D int16 samples, got {samples.ndim}-D {samples.dtype}")
        self._append(samples.astype("<i2", copy=False).tobytes(), len(samples))

    def write_float(self, samples: npt.NDArray[np.float32]) -> None:
        """Append mono float samples in [-1, 1], clipped and rounded to int16."""
        if not np.issubdtype(samples.dtype, np.floating) or samples.ndim != 1:
            raise ValueError(f"expected 1-D float samples, got {samples.ndim}-D {samples.dtype}")
        self.write_pcm16(float_to_pcm16(samples))

    def finish(self) -> str:
        """Write the final header, complete the object and return its URI."""
        self._ensure_open()
        self._closed = True
        self._appender.finish(wav_header(self.sample_rate, self._frames_written))
        return self.uri

    def abort(self) -> None:
        """Discard the recording."""
        if not self._closed:
            self._closed = True
            self._appender.abort()

    def _append(self, data: bytes, frames: int) -> None:
        self._ensure_open()
        if (self._frames_written + frames) * SAMPLE_BYTES > MAX_DATA_BYTES:
            raise OverflowError("a WAV recording holds at most 4 GiB of samples")
        self._appender.append(data)
        self._frames_written += frames
        if self._frames_written - self._checkpointed_frames >= self.sample_rate:
            self._appender.checkpoint(wav_header(self.sample_rate, self._frames_written))
            self._checkpointed_frames = self._frames_written

    def _ensure_open(self) -> None:
        if self._closed:
            raise RuntimeError("the recording is already finished or aborted")
