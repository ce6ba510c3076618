"""The speaker embedding model code (``triton_models.speaker_embedding``) outside Triton."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from benchmarks.conversations import SENTENCES, synthesize_words
from benchmarks.speech import espeak_available
from triton_models.speaker_embedding import EMBEDDING_DIM, SpeakerEmbedder, fbank, get_model_path

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


class _Features(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.POINTER(ctypes.c_float)),
        ("frames_per_subsegment", ctypes.POINTER(ctypes.c_size_t)),
        ("subsegment_offsets", ctypes.POINTER(ctypes.c_size_t)),
        ("num_subsegments", ctypes.c_size_t),
        ("total_frames", ctypes.c_size_t),
        ("feature_dim", ctypes.c_size_t),
    ]


def _senko_fbank(audio: np.ndarray) -> np.ndarray:
    """senko's C++ Kaldi fbank of one second (it crashes on longer segments, RUNTIME.md)."""
    lib = ctypes.CDLL(str(get_model_path().parents[2] / "libfbank_extractor.so"))
    lib.create_fbank_extractor.restype = ctypes.c_void_p
    lib.destroy_fbank_extractor.argtypes = [ctypes.c_void_p]
    float_p = ctypes.POINTER(ctypes.c_float)
    lib.extract_fbank_features_from_memory.argtypes = [
        ctypes.c_void_p,
        float_p,
        ctypes.c_size_t,
        float_p,
        ctypes.c_size_t,
    ]
    lib.extract_fbank_features_from_memory.restype = _Features
    extractor = lib.create_fbank_extractor()
    segment = np.array([0.0, len(audio) / 16000], dtype=np.float32)
    features = lib.extract_fbank_features_from_memory(
        extractor, audio.ctypes.data_as(float_p), len(audio), segment.ctypes.data_as(float_p), 1
    )
    result = np.ctypeslib.as_array(features.data, shape=(features.total_frames * features.feature_dim,)).copy()
    lib.destroy_fbank_extractor(extractor)
    return result.reshape(features.total_frames, features.feature_dim)


def test_fbank_matches_the_kaldi_extractor_shipped_with_senko() -> None:
    audio = np.ascontiguousarray(synthesize_words(SENTENCES[0], "en-us")[0][:16000])
    reference = _senko_fbank(audio)
    ours = fbank(audio[None])[0]
    assert ours.shape == reference.shape == (98, 80)
    assert np.abs(ours - (reference - reference.mean(axis=0))).max() < 1e-3


@pytest.fixture(scope="module")
def embedder() -> SpeakerEmbedder:
    return SpeakerEmbedder(get_model_path(), threads=1)


def test_embeddings_tell_voices_apart(embedder) -> None:
    def windows(voice: str) -> np.ndarray:
        audio = np.concatenate([synthesize_words(text, voice)[0] for text in SENTENCES[:2]])
        return np.stack([audio[i : i + 24000] for i in range(0, len(audio) - 24000, 12000)])

    male, female = embedder.embed(windows("en-us")), embedder.embed(windows("en+f3"))
    assert male.shape[1] == EMBEDDING_DIM and np.allclose(np.linalg.norm(male, axis=1), 1.0, atol=1e-5)
    within = (male @ male.T)[np.triu_indices(len(male), 1)].mean()
    across = (male @ female.T).mean()
    assert within > across + 0.2


def test_no_windows_give_no_embeddings(embedder) -> None:
    assert embedder.embed(np.zeros((0, 24000), np.float32)).shape == (0, EMBEDDING_DIM)
