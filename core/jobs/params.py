"""Parameters of a batch or enhancement job, as accepted by ``POST /v1/audio/transcriptions``."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from core.live_models import StreamingModel


class SpeakerDetection(StrEnum):
    NONE = "none"
    DIARIZE = "diarize"


class JobParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """What a job was asked to do; stored on the job row and read by the worker."""

    language: str = "auto"
    model: str = ""
    speaker_detection: SpeakerDetection = SpeakerDetection.NONE
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    word_timestamps: bool = True
    llm_cleanup: bool = False
    emotions: bool = False
    webhook_url: str | None = None

    def validate(self) -> JobParams:
        """``self`` if consistent; raises ``ValueError`` with a user-facing message otherwise."""
        for name in ("num_speakers", "min_speakers", "max_speakers"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 32:
                raise ValueError(f"{name} must be between 1 and 32")
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise ValueError("min_speakers must not exceed max_speakers")
        return self


def parse_job_params(fields: dict[str, str]) -> JobParams:
    """Validate the known form fields (unknown ones are ignored); raises ``ValueError``."""
    known_names = {f.name for f in msgspec.structs.fields(JobParams)}
    known = {name: value for name, value in fields.items() if name in known_names and value != ""}
    try:
        params = msgspec.convert(known, JobParams, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    return params.validate()


def check_served(params: JobParams, batch_model: StreamingModel) -> None:
    """Refuse a ``model`` or ``language`` the batch model cannot serve; ``ValueError`` names the accepted values."""
    if params.model not in ("", batch_model.name):
        raise ValueError(f"model {params.model!r} is not served here; accepted: {batch_model.name!r} (or none)")
    if not batch_model.accepts_language(params.language):
        raise ValueError(
            f"language {params.language!r} is not transcribed by model {batch_model.name!r}; accepted: "
            + ", ".join(repr(language) for language in ["auto", *sorted(batch_model.languages)])
        )
