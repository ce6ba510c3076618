"""Triton adapter for :mod:`triton_models.speaker_overlap` (overlap probability per frame of each 10 s chunk)."""

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_models.backend_config import lower_cpu_priority, model_parameters, resolve_model_path
from triton_models.speaker_overlap import OverlapDetector


class TritonPythonModel:
    def initialize(self, args):
        parameters = model_parameters(args)
        lower_cpu_priority(parameters)
        self._detector = OverlapDetector(
            resolve_model_path(parameters["model_path"]),
            device=parameters.get("device", "cpu"),
            threads=int(parameters.get("threads", "1")),
        )

    def execute(self, requests):
        chunks = [pb_utils.get_input_tensor_by_name(r, "AUDIO").as_numpy().astype(np.float32) for r in requests]
        try:  # one forward pass for every chunk the batcher brought together
            answers = np.split(
                self._detector.overlap_probabilities(np.concatenate(chunks)), np.cumsum([len(c) for c in chunks])[:-1]
            )
        except Exception:  # one bad request: answer each on its own
            return [self._answer(c) for c in chunks]
        return [self._response(a) for a in answers]

    def _answer(self, chunks: np.ndarray):
        try:
            return self._response(self._detector.overlap_probabilities(chunks))
        except Exception as exc:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"speaker_overlap failed: {exc}"))

    def _response(self, probabilities: np.ndarray):
        frame_step = np.full((len(probabilities), 1), self._detector.frame_step_s, dtype=np.float32)
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor("OVERLAP", probabilities), pb_utils.Tensor("FRAME_STEP_S", frame_step)]
        )
