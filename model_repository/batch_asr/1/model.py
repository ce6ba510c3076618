"""Triton adapter for :mod:`triton_models.batch_transcription` (one JSON list of segments per chunk)."""

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_models.backend_config import model_parameters, resolve_model_path, text_value
from triton_models.batch_transcription import BatchTranscriber, ChunkRequest, segments_json


class TritonPythonModel:
    def initialize(self, args):
        parameters = model_parameters(args)
        self._transcriber = BatchTranscriber(
            resolve_model_path(parameters["model_path"]),
            device=parameters.get("device", "cpu"),
            compute_type=parameters.get("compute_type", "int8"),
            cpu_threads=int(parameters.get("cpu_threads", "2")),
            beam_size=int(parameters.get("beam_size", "5")),
            window_margin_s=float(parameters.get("window_margin_s", "2.0")),
            max_prompt_tokens=int(parameters.get("max_prompt_tokens", "223")),
            nice=int(parameters.get("nice", "0")),
        )

    def execute(self, requests):
        responses = []
        for result in self._transcriber.transcribe([_chunk_request(request) for request in requests]):
            if isinstance(result, Exception):
                error = pb_utils.TritonError(f"batch_asr: {result}")
                responses.append(pb_utils.InferenceResponse(error=error))
                continue
            tensor = pb_utils.Tensor("SEGMENTS", np.array([[segments_json(result)]], dtype=np.object_))
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
        return responses


def _chunk_request(request) -> ChunkRequest:
    audio = pb_utils.get_input_tensor_by_name(request, "AUDIO").as_numpy().reshape(-1)
    return ChunkRequest(
        audio=audio.astype(np.float32),
        language=text_value(pb_utils.get_input_tensor_by_name(request, "LANGUAGE")) or "auto",
        prompt=text_value(pb_utils.get_input_tensor_by_name(request, "PROMPT")),
    )
