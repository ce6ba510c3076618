"""Decoding a job's input: the samples come out whole, and the signal is held once while it decodes."""

from __future__ import annotations

import io
import struct
import tracemalloc
import wave

import numpy as np

from core.audio.decoding import SAMPLE_RATE, decode_audio, probe_audio


def _pcm16(seconds: float) -> np.ndarray:
    return (10000 * np.sin(np.arange(int(seconds * SAMPLE_RATE)) / 10)).astype("<i2")


def _wav(pcm: np.ndarray) -> bytes:
    file = io.BytesIO()
    with wave.open(file, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())
    return file.getvalue()


def test_a_wav_decodes_to_its_samples_holding_the_signal_once() -> None:
    pcm = _pcm16(60)
    data = _wav(pcm)
    tracemalloc.start()
    try:
        audio = decode_audio(io.BytesIO(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(audio, pcm / 32768.0)
    assert audio.dtype == np.float32
    assert peak < 1.25 * audio.nbytes, (peak, audio.nbytes)  # frames joined at the end: 3x


def test_a_streamed_wav_that_declares_no_length_decodes_whole() -> None:
    pcm = _pcm16(5)
    data = bytearray(_wav(pcm))
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)  # RIFF and data sizes of a writer that did not know
    audio = decode_audio(io.BytesIO(bytes(data)))
    np.testing.assert_array_equal(audio, pcm / 32768.0)


def test_a_resampled_file_decodes_to_the_length_probing_counts() -> None:
    stereo_44k = np.repeat((10000 * np.sin(np.arange(44100 * 3) / 7)).astype("<i2")[:, None], 2, axis=1)
    file = io.BytesIO()
    with wave.open(file, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(stereo_44k.tobytes())
    audio = decode_audio(io.BytesIO(file.getvalue()))
    assert len(audio) == round(probe_audio(io.BytesIO(file.getvalue())).duration_s * SAMPLE_RATE)
    assert abs(len(audio) - 3 * SAMPLE_RATE) <= 16
