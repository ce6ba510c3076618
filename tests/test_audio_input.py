"""Frame validation, PCM conversion and streaming resampling."""

import numpy as np
import pytest

from core.audio.frames import FrameDecoder, InvalidAudio, float_to_pcm16
from core.protocol import AudioEncoding


def test_s16_frames_keep_their_samples_for_the_recording() -> None:
    samples = np.array([0, 1, -1, 32767, -32768], dtype="<i2")
    decoded = FrameDecoder(AudioEncoding.PCM_S16LE, 16000).decode(samples.tobytes())
    np.testing.assert_array_equal(decoded.pcm16, samples)
    np.testing.assert_allclose(decoded.model_audio, samples / 32768.0)


def test_f32_frames_are_clipped_and_rounded_to_pcm16() -> None:
    audio = np.array([0.0, 0.5, -0.5, 1.5, -2.0], dtype="<f4")
    decoded = FrameDecoder(AudioEncoding.PCM_F32LE, 16000).decode(audio.tobytes())
    np.testing.assert_array_equal(decoded.pcm16, [0, 16384, -16384, 32767, -32767])
    np.testing.assert_array_equal(float_to_pcm16(audio), decoded.pcm16)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_streaming_resampling_to_16k_preserves_length_and_tone(rate: int) -> None:
    decoder = FrameDecoder(AudioEncoding.PCM_F32LE, rate)
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    frame = rate // 10
    out = np.concatenate(
        [decoder.decode(tone[i : i + frame].tobytes()).model_audio for i in range(0, len(tone), frame)]
        + [decoder.drain()]
    )
    assert len(out) == pytest.approx(32000, abs=2)
    spectrum = np.abs(np.fft.rfft(out[4000:20000]))
    assert np.argmax(spectrum) * 16000 / 16000 == pytest.approx(440, abs=2)


@pytest.mark.parametrize(
    ("encoding", "frame", "reason"),
    [
        (AudioEncoding.PCM_S16LE, b"\x00" * 3, "whole number"),
        (AudioEncoding.PCM_F32LE, b"\x00" * 6, "whole number"),
        (AudioEncoding.PCM_S16LE, b"", "whole number"),
        (AudioEncoding.PCM_S16LE, b"\x00" * (16000 * 2 + 2), "exceeds 1 s"),
        (AudioEncoding.PCM_F32LE, np.array([np.nan], dtype="<f4").tobytes(), "NaN"),
    ],
)
def test_bad_frames_are_refused_with_a_reason(encoding, frame, reason) -> None:
    with pytest.raises(InvalidAudio, match=reason):
        FrameDecoder(encoding, 16000).decode(frame)
