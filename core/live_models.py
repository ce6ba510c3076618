"""The live model profiles a session may choose with ``model=`` (one Triton model each).

Every model of the repository named ``streaming_asr`` or ``streaming_asr_<profile>`` is a live
profile; its config's ``model_name`` parameter is the public name a session asks for and
``session.begin.model`` reports. ``streaming_asr`` is the default. Dalston's SDK sends
``model=fast`` (and offers ``accurate``): ``fast`` is the default profile, ``accurate`` the
profile whose config says ``accurate: "true"`` (the default when none does).
"""

from __future__ import annotations

from dataclasses import dataclass

STREAMING_ASR_MODEL = "streaming_asr"
"""The default profile's Triton model."""
TRITON_MODEL_PREFIX = "streaming_asr_"


@dataclass(frozen=True)
class StreamingModel:
    """One live profile, from its Triton config."""

    name: str
    """The public model name (``model_name`` parameter)."""
    triton_model: str
    """The Triton model that serves it (``streaming_asr`` or ``streaming_asr_<profile>``)."""
    language: str | None
    """The one language of an English-only model (``language`` parameter); ``None`` if multilingual."""
    languages: frozenset[str] = frozenset()
    """Every language it transcribes: the one language, or all of Whisper's for a multilingual model."""
    accurate: bool = False
    """What Dalston's ``model=accurate`` selects."""

    def accepts_language(self, language: str) -> bool:
        """Whether a session may ask for ``language`` (``auto``: the model's language or detection)."""
        return language == "auto" or language in self.languages


def is_live_profile(triton_model: str) -> bool:
    """Whether a repository model is a live profile (by its name)."""
    return triton_model == STREAMING_ASR_MODEL or triton_model.startswith(TRITON_MODEL_PREFIX)


@dataclass(frozen=True)
class LiveModels:
    """The profiles a server runs; :meth:`select` turns a session's ``model=`` into one of them."""

    profiles: tuple[StreamingModel, ...]

    def __post_init__(self) -> None:
        if not any(p.triton_model == STREAMING_ASR_MODEL for p in self.profiles):
            raise ValueError(f"the model repository has no {STREAMING_ASR_MODEL!r}")

    @property
    def default(self) -> StreamingModel:
        return next(p for p in self.profiles if p.triton_model == STREAMING_ASR_MODEL)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.profiles]

    def select(self, requested: str) -> StreamingModel:
        """The profile a session asked for: empty or ``fast`` → the default, ``accurate`` → the
        accurate one, otherwise by public name. Raises ``ValueError`` for an unknown name."""
        if requested in ("", "fast"):
            return self.default
        if requested == "accurate":
            return next((p for p in self.profiles if p.accurate), self.default)
        for profile in self.profiles:
            if profile.name == requested:
                return profile
        raise ValueError(
            f"unknown model {requested!r}; this server runs {', '.join(map(repr, self.names))}"
            " (or the aliases 'fast' and 'accurate')"
        )
