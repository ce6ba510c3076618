"""OpenAI model names Tandem answers to, and ``GET /v1/models``."""

from __future__ import annotations

import time

import msgspec
from litestar import get
from litestar.datastructures import State

from core.live_models import LiveModels
from core.settings import Settings

WHISPER_1 = "whisper-1"
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
OPENAI_MODELS = (WHISPER_1, "gpt-4o-transcribe", "gpt-4o-mini-transcribe", DIARIZE_MODEL)
"""The transcription models of OpenAI's API; each is served by Tandem's batch model."""
OPENAI_PREFIX = "/openai/v1"
_STARTED = int(time.time())


def openai_names(settings: Settings) -> dict[str, str]:
    """Every name answered as an OpenAI model → the OpenAI model it behaves as (aliases from the settings)."""
    names = {name: name for name in OPENAI_MODELS}
    for entry in settings.openai_model_aliases.split(","):
        alias, _, target = (part.strip() for part in entry.partition("="))
        if alias:
            names[alias] = target if target in OPENAI_MODELS else WHISPER_1
    return names


class Model(msgspec.Struct):
    id: str
    created: int
    owned_by: str
    object: str = "model"


class ModelList(msgspec.Struct):
    data: list[Model]
    object: str = "list"


@get(["/v1/models", f"{OPENAI_PREFIX}/models"], sync_to_thread=False)
def list_models(state: State) -> ModelList:
    """OpenAI's model list: Tandem's live models, then the OpenAI names it answers to."""
    live_models: LiveModels = state.live_models
    served = [Model(id=name, created=_STARTED, owned_by="tandem") for name in live_models.names]
    openai = [Model(id=name, created=_STARTED, owned_by="tandem") for name in openai_names(state.settings)]
    return ModelList(data=served + openai)
