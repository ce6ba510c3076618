"""Live profile: the adapter is shared by every ``streaming_asr*`` model; ``config.pbtxt`` picks the weights."""

from triton_models.streaming_asr_backend import TritonPythonModel

__all__ = ["TritonPythonModel"]
