"""Streaming Silero VAD (the v6 ONNX model shipped with faster-whisper), state kept by the caller.

The model reads 512-sample windows (32 ms at 16 kHz), each preceded by the previous window's last
64 samples, and carries an LSTM state. A live session sends its new audio together with that
context and the state it got back last time, so any model instance can serve any session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faster_whisper
import numpy as np
import onnxruntime

WINDOW_SAMPLES = 512
CONTEXT_SAMPLES = 64
STATE_SIZE = 2 * 128
"""Flattened (h, c) state, each ``[1, 1, 128]``."""

DEFAULT_MODEL_PATH = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


@dataclass(frozen=True)
class VadResult:
    speech_probs: np.ndarray
    """One speech probability per 512-sample window."""
    state: np.ndarray
    """The state to send with the next request."""


def initial_state() -> np.ndarray:
    return np.zeros(STATE_SIZE, dtype=np.float32)


class SileroVad:
    """Runs Silero VAD over windows of several independent streams."""

    def __init__(self, model_path: str | Path = DEFAULT_MODEL_PATH, *, threads: int = 1) -> None:
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(model_path), providers=["CPUExecutionProvider"], sess_options=options
        )

    def speech_probs(self, audio: np.ndarray, state: np.ndarray) -> VadResult:
        """Probabilities for ``audio`` = 64 context samples + N whole 512-sample windows."""
        windows = (len(audio) - CONTEXT_SAMPLES) // WINDOW_SAMPLES
        if windows <= 0:
            return VadResult(np.zeros(0, dtype=np.float32), state.astype(np.float32))
        body = audio[CONTEXT_SAMPLES : CONTEXT_SAMPLES + windows * WINDOW_SAMPLES].reshape(windows, WINDOW_SAMPLES)
        contexts = np.concatenate([audio[None, :CONTEXT_SAMPLES], body[:-1, -CONTEXT_SAMPLES:]], axis=0)
        batch = np.concatenate([contexts, body], axis=1).astype(np.float32)
        h, c = state.astype(np.float32).reshape(2, 1, 1, 128)
        probs, h, c = self._session.run(None, {"input": batch, "h": h, "c": c})
        return VadResult(
            np.asarray(probs, dtype=np.float32).reshape(-1),
            np.concatenate([h.reshape(-1), c.reshape(-1)]).astype(np.float32),
        )


def get_model_path() -> Path:
    """The packaged weights (lets ``config.pbtxt`` say ``package:triton_models.silero_vad``)."""
    return DEFAULT_MODEL_PATH
