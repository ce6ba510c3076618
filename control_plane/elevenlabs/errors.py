"""ElevenLabs' error shape: ``{"detail": {"status", "message"}}`` (plus Tandem's ``error`` object, as every error)."""

from __future__ import annotations

import msgspec
from litestar import Request, Response


class ElevenLabsErrorDetail(msgspec.Struct):
    status: str
    message: str


class TandemErrorDetail(msgspec.Struct):
    code: str
    message: str


class ElevenLabsErrorBody(msgspec.Struct):
    detail: ElevenLabsErrorDetail
    """What ElevenLabs' clients read."""
    error: TandemErrorDetail
    """The same as every Tandem error (``{"error": {"code", "message"}}``)."""


class ElevenLabsError(Exception):
    """Answered as ``{"detail": {"status": status, "message": message}}`` with ``status_code``."""

    def __init__(self, status_code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = ElevenLabsErrorDetail(status=status, message=message)


def elevenlabs_error_handler(_: Request, exc: ElevenLabsError) -> Response[ElevenLabsErrorBody]:
    body = ElevenLabsErrorBody(exc.detail, TandemErrorDetail(exc.detail.status, exc.detail.message))
    return Response(body, status_code=exc.status_code)
