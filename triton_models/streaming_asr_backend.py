"""Triton adapter of the live profiles (``streaming_asr``, ``streaming_asr_<profile>``) for
:mod:`triton_models.whisper_decoding`: one JSON transcript per request. Each profile's ``1/model.py``
imports :class:`TritonPythonModel` from here; its ``config.pbtxt`` chooses the weights.

Each request is answered on its own: one that cannot be read (an unsupported language, say)
gets its own error, and when a batch decode fails its requests are retried one by one so that
only the failing one gets the error. Finals are decoded and answered (through each request's
response sender) before the partials of the same batch.
"""

import json
from dataclasses import asdict

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_models.backend_config import model_parameters, resolve_model_path, text_value
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
                max_continuations=int(parameters.get("max_continuations", "0")),
            ),
        )
        if self._whisper.is_multilingual:
            from faster_whisper.tokenizer import _LANGUAGE_CODES

            self._languages = frozenset(_LANGUAGE_CODES)
        else:
            self._languages = frozenset({parameters.get("language") or "en"})

    def execute(self, requests):
        readable = []
        for request in requests:
            try:
                readable.append((request, self._decode_request(request)))
            except Exception as exc:
                _send_error(request, f"streaming_asr refused the request: {exc}")
        finals = [(r, d) for r, d in readable if d.final]
        partials = [(r, d) for r, d in readable if not d.final]
        for group in (finals, partials):
            if group:
                self._answer(group)
        return None

    def _answer(self, group):
        """Decode ``group`` as one batch; if that fails, each request alone."""
        try:
            results = self._whisper.transcribe_batch([decode for _, decode in group])
        except Exception:
            for request, decode in group:
                try:
                    _send_result(request, self._whisper.transcribe_batch([decode])[0])
                except Exception as exc:
                    _send_error(request, f"streaming_asr failed: {exc}")
            return
        for (request, _), result in zip(group, results):
            _send_result(request, result)

    def _decode_request(self, request) -> DecodeRequest:
        audio = pb_utils.get_input_tensor_by_name(request, "AUDIO").as_numpy().reshape(-1)
        word_timestamps = bool(pb_utils.get_input_tensor_by_name(request, "WORD_TIMESTAMPS").as_numpy().reshape(-1)[0])
        language = text_value(pb_utils.get_input_tensor_by_name(request, "LANGUAGE"))
        if language not in ("", "auto") and language not in self._languages:
            raise ValueError(f"unsupported language {language!r}")
        final = bool(pb_utils.get_input_tensor_by_name(request, "FINAL").as_numpy().reshape(-1)[0])
        return DecodeRequest(
            audio=audio.astype(np.float32),
            word_timestamps=word_timestamps,
            language=language or None,
            final=final,
            prompt=text_value(pb_utils.get_input_tensor_by_name(request, "PROMPT")),
            prefix=text_value(pb_utils.get_input_tensor_by_name(request, "PREFIX")),
        )


def _send_result(request, result) -> None:
    payload = asdict(result)
    del payload["tokens"], payload["segments"]
    tensor = pb_utils.Tensor("TRANSCRIPT", np.array([[json.dumps(payload)]], dtype=np.object_))
    request.get_response_sender().send(
        pb_utils.InferenceResponse(output_tensors=[tensor]), flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
    )


def _send_error(request, message: str) -> None:
    request.get_response_sender().send(
        pb_utils.InferenceResponse(error=pb_utils.TritonError(message)),
        flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL,
    )
