"""Reading a Python-backend model's ``config.pbtxt`` parameters (what a deployment edits)."""

from __future__ import annotations

import importlib
import json
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
