"""Triton adapter for :mod:`triton_models.whisper_decoding` (one JSON transcript per request)."""

import json
from dataclasses import asdict

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_models.backend_config import model_parameters, resolve_model_path
from triton_models.whisper_decoding import DecodeRequest, DecoderOptions, ShortWindowWhisper


class TritonPythonModel:
    def initialize(self, args):
        parameters = model_parameters(args)
        self._whisper = ShortWindowWhisper(
            resolve_model_path(parameters["model_path"]),
            device=parameters.get("device", "cpu"),
            compute_type=parameters.get("compute_type", "int8"),
            cpu_threads=int(parameters.get("cpu_threads", "2")),
            options=DecoderOptions(
                partial_beam_size=int(parameters.get("partial_beam_size", "1")),
                final_beam_size=int(parameters.get("final_beam_size", "5")),
            ),
        )

    def execute(self, requests):
        decode_requests = [_decode_request(request) for request in requests]
        try:
            results = self._whisper.transcribe_batch(decode_requests)
        except Exception as exc:  # a failed batch fails its requests, not the server
            error = pb_utils.TritonError(f"streaming_asr failed: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        responses = []
        for result in results:
            payload = asdict(result)
            del payload["tokens"], payload["segments"]
            tensor = pb_utils.Tensor("TRANSCRIPT", np.array([[json.dumps(payload)]], dtype=np.object_))
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
        return responses


def _decode_request(request) -> DecodeRequest:
    audio = pb_utils.get_input_tensor_by_name(request, "AUDIO").as_numpy().reshape(-1)
    word_timestamps = bool(pb_utils.get_input_tensor_by_name(request, "WORD_TIMESTAMPS").as_numpy().reshape(-1)[0])
    language = pb_utils.get_input_tensor_by_name(request, "LANGUAGE").as_numpy().reshape(-1)[0]
    language = language.decode() if isinstance(language, bytes) else str(language)
    final = bool(pb_utils.get_input_tensor_by_name(request, "FINAL").as_numpy().reshape(-1)[0])
    return DecodeRequest(
        audio=audio.astype(np.float32), word_timestamps=word_timestamps, language=language or None, final=final
    )
