"""Triton adapter for :mod:`triton_models.silero_vad`."""

import triton_python_backend_utils as pb_utils

from triton_models.backend_config import model_parameters, resolve_model_path
from triton_models.silero_vad import SileroVad


class TritonPythonModel:
    def initialize(self, args):
        parameters = model_parameters(args)
        self._vad = SileroVad(resolve_model_path(parameters["model_path"]), threads=int(parameters.get("threads", "1")))

    def execute(self, requests):
        responses = []
        for request in requests:
            audio = pb_utils.get_input_tensor_by_name(request, "AUDIO").as_numpy().reshape(-1)
            state = pb_utils.get_input_tensor_by_name(request, "STATE").as_numpy().reshape(-1)
            result = self._vad.speech_probs(audio, state)
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("SPEECH_PROBS", result.speech_probs.reshape(1, -1)),
                        pb_utils.Tensor("STATE_OUT", result.state.reshape(1, -1)),
                    ]
                )
            )
        return responses
