"""Triton adapter for :mod:`triton_models.speaker_embedding` (one L2-normalised vector per window).

Shared by ``speaker_embedding`` (enhancement, niced) and ``live_speaker_embedding`` (live labels).
"""

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_models.backend_config import lower_cpu_priority, model_parameters, resolve_model_path
from triton_models.speaker_embedding import SpeakerEmbedder


class TritonPythonModel:
    def initialize(self, args):
        parameters = model_parameters(args)
        lower_cpu_priority(parameters)
        self._embedder = SpeakerEmbedder(
            resolve_model_path(parameters["model_path"]),
            architecture=parameters.get("architecture", "campplus"),
            device=parameters.get("device", "cpu"),
            threads=int(parameters.get("threads", "1")),
            runtime=parameters.get("runtime", "onnxruntime"),
        )

    def execute(self, requests):
        windows = [pb_utils.get_input_tensor_by_name(r, "AUDIO").as_numpy().astype(np.float32) for r in requests]
        try:  # one forward pass when the batcher brought equal-length windows together
            embeddings = np.split(
                self._embedder.embed(np.concatenate(windows)), np.cumsum([len(w) for w in windows])[:-1]
            )
        except Exception:  # different lengths, or one bad request: answer each on its own
            return [self._answer(w) for w in windows]
        return [pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("EMBEDDING", e)]) for e in embeddings]

    def _answer(self, windows: np.ndarray):
        try:
            embedding = self._embedder.embed(windows)
        except Exception as exc:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"speaker_embedding failed: {exc}"))
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("EMBEDDING", embedding)])
