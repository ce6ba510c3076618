"""Triton's Prometheus counters: parsed, read, and the per-model deltas of a benchmark level."""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

_METRIC_LINE = re.compile(r"^(nv_inference_\w+)\{([^}]*)\}\s+([-+0-9.eE]+)\s*$")


_METRICS = (
    "nv_inference_request_success",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
)


def parse_triton_metrics(text: str) -> dict[str, dict[str, float]]:
    """``{model: {metric: value}}`` for the counters used here (summed over versions)."""
    parsed: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = _METRIC_LINE.match(line)
        if not match or match.group(1) not in _METRICS:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        model = labels.get("model")
        if model is None:
            continue
        values = parsed.setdefault(model, {})
        values[match.group(1)] = values.get(match.group(1), 0.0) + float(match.group(3))
    return parsed


def triton_deltas(before: dict, after: dict, models: Iterable[str] = ("streaming_asr", "vad")) -> dict[str, dict]:
    """Average batch size and queue/compute ms per request between two metric snapshots."""
    report = {}
    for model in models:
        delta = {name: after.get(model, {}).get(name, 0.0) - before.get(model, {}).get(name, 0.0) for name in _METRICS}
        requests = delta["nv_inference_request_success"]
        executions = delta["nv_inference_exec_count"]
        report[model] = {
            "requests": int(requests),
            "executions": int(executions),
            "avg_batch": round(delta["nv_inference_count"] / executions, 2) if executions else None,
            "queue_ms_per_request": round(delta["nv_inference_queue_duration_us"] / requests / 1000, 2)
            if requests
            else None,
            "compute_ms_per_request": round(delta["nv_inference_compute_infer_duration_us"] / requests / 1000, 2)
            if requests
            else None,
        }
    return report


def read_triton_metrics(metrics_url: str) -> dict[str, dict[str, float]]:
    return parse_triton_metrics(httpx.get(metrics_url, timeout=5).text)
