"""Overlapped speech detection; ``config.pbtxt`` sets it up."""

from triton_models.speaker_overlap_backend import TritonPythonModel

__all__ = ["TritonPythonModel"]
