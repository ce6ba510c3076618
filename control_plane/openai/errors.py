"""OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import msgspec
from litestar import Request, Response

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"


class OpenAIErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(msgspec.Struct):
    error: OpenAIErrorDetail


class OpenAIError(Exception):
    """Answered in OpenAI's shape with ``status_code`` (400 ``invalid_request_error`` unless told)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        param: str | None = None,
        status_code: int = 400,
        error_type: str = INVALID_REQUEST,
    ) -> None:
        super().__init__(message)
        self.detail = OpenAIErrorDetail(message=message, type=error_type, param=param, code=code)
        self.status_code = status_code


def openai_error_handler(_: Request, exc: OpenAIError) -> Response[OpenAIErrorBody]:
    return Response(OpenAIErrorBody(exc.detail), status_code=exc.status_code)
