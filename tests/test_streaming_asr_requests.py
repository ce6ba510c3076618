"""``streaming_asr`` on the real Triton: each request of a batch is answered on its own."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.speech import CONVERSATION, conversation, word_error_rate
from benchmarks.triton_metrics import read_triton_metrics
from core.inference import STREAMING_ASR_MODEL, InferenceClient, InferenceFailed


def _asr_counts(triton) -> tuple[float, float]:
    """Inferences and executions of ``streaming_asr`` so far (Triton's Prometheus counters)."""
    counts = read_triton_metrics(triton.endpoints.metrics_url)["streaming_asr"]
    return counts["nv_inference_count"], counts["nv_inference_exec_count"]


async def test_a_bad_request_fails_alone_in_its_batch(triton) -> None:
    clip = conversation(CONVERSATION[:1])
    client = InferenceClient(triton.endpoints.grpc_url)
    try:
        model = (await client.live_models()).default
        assert model.languages == frozenset({"en"}) and model.accepts_language("auto")
        assert not model.accepts_language("fr")
        before = _asr_counts(triton)
        requests = [
            client.transcribe(clip.audio, word_timestamps=final, language="fr" if i == 3 else "en", final=final,
                              model=model.triton_model)
            for i, final in enumerate([True, False, True, False, True, False, True, False])
        ]
        results = await asyncio.gather(*requests, return_exceptions=True)
        inferences, executions = (a - b for a, b in zip(_asr_counts(triton), before))
    finally:
        await client.close()
    assert isinstance(results[3], InferenceFailed) and "unsupported language 'fr'" in str(results[3])
    for index, result in enumerate(results):
        if index != 3:
            assert not isinstance(result, BaseException), result
            assert word_error_rate(clip.text, result.text) <= 0.2, result.text
    # The eight requests met in fewer executions than requests: the bad one shared a batch.
    assert executions < inferences, (inferences, executions)


@pytest.mark.parametrize("language", ["", "auto", "en"])
async def test_auto_and_the_models_language_are_accepted(triton, language) -> None:
    clip = conversation(CONVERSATION[:1])
    client = InferenceClient(triton.endpoints.grpc_url)
    try:
        result = await client.transcribe(
            clip.audio, word_timestamps=False, language=language, final=True, model=STREAMING_ASR_MODEL
        )
    finally:
        await client.close()
    assert word_error_rate(clip.text, result.text) <= 0.2


async def test_the_repository_serves_two_live_profiles(triton) -> None:
    clip = conversation(CONVERSATION[:1])
    client = InferenceClient(triton.endpoints.grpc_url)
    try:
        models = await client.live_models()
        base = models.select("base")
        result = await client.transcribe(
            clip.audio, word_timestamps=True, language="auto", final=True, model=base.triton_model
        )
    finally:
        await client.close()
    assert models.names == ["tiny.en", "base"] and models.default.name == "tiny.en"
    assert base.triton_model == "streaming_asr_base" and models.select("accurate") is base
    assert base.language is None and base.accepts_language("fr") and base.accepts_language("auto")
    assert result.language == "en" and word_error_rate(clip.text, result.text) <= 0.2, result.text
    assert result.words and result.words[-1].end <= clip.duration_s + 0.5
