"""Reading a Python-backend model's ``config.pbtxt`` parameters (what a deployment edits)."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path


def model_parameters(args: dict) -> dict[str, str]:
    """The ``parameters`` block of the model config Triton passes to ``initialize``."""
    config = json.loads(args["model_config"])
    return {key: value["string_value"] for key, value in config.get("parameters", {}).items()}


def resolve_model_path(spec: str) -> str:
    """``package:<module>`` names weights shipped in a Python package; anything else is a path."""
    if spec.startswith("package:"):
        module = importlib.import_module(spec.removeprefix("package:"))
        return str(module.get_model_path())
    return str(Path(spec).expanduser())


def lower_cpu_priority(parameters: dict[str, str]) -> None:
    """Apply the model's ``nice`` parameter to its process, before it starts any thread.

    Enhancement models (batch ASR, speaker embeddings, emotion) run niced on a CPU host, so the
    kernel gives the live models' threads the cores first: Triton's priority levels only order
    one model's queue, not models against each other.
    """
    if int(parameters.get("nice", "0")):
        os.nice(int(parameters["nice"]))


def text_value(tensor) -> str:
    """The string of a one-element BYTES input tensor (``""`` when the optional input was not sent)."""
    if tensor is None:
        return ""
    value = tensor.as_numpy().reshape(-1)[0]
    return value.decode() if isinstance(value, bytes) else str(value)
