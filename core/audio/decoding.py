"""Audio files (uploads, recordings) decoded with PyAV to 16 kHz mono float32.

Decoding streams frame by frame through libswresample, so checking an upload never holds more
than one frame of it in memory; :func:`decode_audio` returns the whole 16 kHz signal (60 minutes:
230 MB), held once while it decodes, and :func:`decode_audio_to` writes it to a file frame by
frame (a job's signal, read back a slice at a time: :mod:`core.audio.signal_file`).
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import av
import numpy as np

SAMPLE_RATE = 16000
EXTENSIONS = ("wav", "flac", "mp3", "ogg", "webm", "m4a", "mp4")
"""Input formats SPEC names (anything FFmpeg decodes is accepted; these keep their extension)."""
TRUNCATION_TOLERANCE_S = 0.5
"""A file decoding to this much less than its header declares is reported as truncated."""
_UNKNOWN_WAV_SIZE = 0xFFFF0000
MAX_PREALLOCATED_S = 4 * 3600.0
"""A header declaring longer than this (a lie, or a file the upload check refuses) is not preallocated for."""
_FORMAT_EXTENSIONS = {"wav": "wav", "flac": "flac", "mp3": "mp3", "ogg": "ogg", "matroska": "webm", "mov": "m4a"}


class InvalidAudioFile(ValueError):
    """The file is empty, not audio, corrupt or truncated; the message says which."""


@dataclass(frozen=True)
class AudioFileInfo:
    duration_s: float
    extension: str
    """The extension the file is stored under (``wav``, ``mp3``, ...)."""


def probe_audio(file: BinaryIO, filename: str | None = None) -> AudioFileInfo:
    """Decode the whole file (without keeping it) to prove it is playable audio; its duration."""
    samples = sum(len(chunk) for chunk in _decoded_chunks(file))
    if samples == 0:
        raise InvalidAudioFile("the file holds no audio samples")
    duration_s = samples / SAMPLE_RATE
    declared_s = _declared_duration_s(file)
    if declared_s is not None and duration_s < declared_s - TRUNCATION_TOLERANCE_S:
        raise InvalidAudioFile(
            f"the file is truncated: its header declares {declared_s:.2f} s, only {duration_s:.2f} s decode"
        )
    return AudioFileInfo(duration_s=duration_s, extension=_extension(file, filename))


def decode_audio(file: BinaryIO) -> np.ndarray:
    """The file as 16 kHz mono float32 samples.

    Decoded into one array sized from the duration the header declares, so the signal is held
    once (a list of frames joined at the end held it three times); what decodes past that size
    (a header that under-declares, or none) is joined at the end.
    """
    try:
        declared_s = _declared_duration_s(file)
    except av.FFmpegError:
        declared_s = None  # decoding says what is wrong with the file
    capacity = int(min(declared_s, MAX_PREALLOCATED_S) * SAMPLE_RATE) + SAMPLE_RATE if declared_s else 0
    audio = np.empty(capacity, dtype=np.float32)
    filled = 0
    beyond: list[np.ndarray] = []
    for chunk in _decoded_chunks(file):
        fits = min(len(chunk), capacity - filled)
        audio[filled : filled + fits] = chunk[:fits]
        filled += fits
        if fits < len(chunk):
            beyond.append(chunk[fits:])
    return np.concatenate([audio[:filled], *beyond]) if beyond else audio[:filled]


def decode_audio_to(file: BinaryIO, out: BinaryIO) -> int:
    """The file as 16 kHz mono float32 samples (native byte order) written to ``out`` one frame at a
    time, never held whole; how many samples."""
    samples = 0
    for chunk in _decoded_chunks(file):
        out.write(np.ascontiguousarray(chunk, dtype=np.float32).data)
        samples += len(chunk)
    return samples


def _decoded_chunks(file: BinaryIO) -> Iterator[np.ndarray]:
    file.seek(0)
    if not file.read(1):
        raise InvalidAudioFile("the file is empty")
    file.seek(0)
    try:
        with av.open(file, mode="r") as container:
            if not container.streams.audio:
                raise InvalidAudioFile("the file has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for resampled in resampler.resample(frame):
                    yield resampled.to_ndarray().reshape(-1)
            for resampled in resampler.resample(None):
                yield resampled.to_ndarray().reshape(-1)
    except av.FFmpegError as exc:
        raise InvalidAudioFile(f"the file could not be decoded as audio: {exc}") from exc


def _declared_duration_s(file: BinaryIO) -> float | None:
    """The duration the file's header announces (a WAV's data chunk, else the container's)."""
    file.seek(0)
    try:
        with wave.open(file, "rb") as wav:
            if wav.getnframes() * wav.getsampwidth() * wav.getnchannels() >= _UNKNOWN_WAV_SIZE:
                return None  # a streamed WAV whose writer did not know its length
            return wav.getnframes() / wav.getframerate()
    except (wave.Error, EOFError):
        pass
    file.seek(0)
    with av.open(file, mode="r") as container:
        return container.duration / av.time_base if container.duration else None


def _extension(file: BinaryIO, filename: str | None) -> str:
    suffix = (filename or "").rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if suffix in EXTENSIONS:
        return suffix
    file.seek(0)
    with av.open(file, mode="r") as container:
        for name in container.format.name.split(","):
            if name in _FORMAT_EXTENSIONS:
                return _FORMAT_EXTENSIONS[name]
    return "bin"
