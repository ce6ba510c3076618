"""Triton adapter for :mod:`triton_models.emotion` (one JSON emotion per request).

The batch goes to the model in one call; if that fails, each request is retried alone so that one
bad request (e.g. no audio) gets its own error and the others their answers.
"""

import json
from dataclasses import asdict

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_models.backend_config import lower_cpu_priority, model_parameters
from triton_models.emotion import DEFAULT_IMPLEMENTATION, load_emotion_model


class TritonPythonModel:
    def initialize(self, args):
        parameters = model_parameters(args)
        lower_cpu_priority(parameters)
        self._model = load_emotion_model(
            parameters.get("implementation") or DEFAULT_IMPLEMENTATION,
            parameters.get("model_path", ""),
            parameters.get("device", "cpu"),
        )

    def execute(self, requests):
        audios, texts = [], []
        for request in requests:
            audios.append(pb_utils.get_input_tensor_by_name(request, "AUDIO").as_numpy().reshape(-1).astype(np.float32))
            text = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().reshape(-1)[0]
            texts.append(text.decode() if isinstance(text, bytes) else str(text))
        try:
            return [_response(estimate) for estimate in self._model.analyze_batch(audios, texts)]
        except Exception:  # noqa: BLE001 - find the request(s) at fault, answer the rest
            return [self._one(audio, text) for audio, text in zip(audios, texts)]

    def _one(self, audio, text):
        try:
            return _response(self._model.analyze_batch([audio], [text])[0])
        except Exception as exc:  # noqa: BLE001 - this request's error, not the batch's
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"emotion failed: {exc}"))


def _response(estimate):
    tensor = pb_utils.Tensor("EMOTION", np.array([[json.dumps(asdict(estimate))]], dtype=np.object_))
    return pb_utils.InferenceResponse(output_tensors=[tensor])
