"""Speaker embeddings: the adapter is shared by every ``*speaker_embedding`` model; ``config.pbtxt`` sets it up."""

from triton_models.speaker_embedding_backend import TritonPythonModel

__all__ = ["TritonPythonModel"]
