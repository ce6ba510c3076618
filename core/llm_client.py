"""The async client of an OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp's server, ...).

Answers are constrained to a JSON schema (``response_format``) and decoded; anything that keeps an
answer from arriving (refused connection, timeout, 5xx, a body that is not the JSON asked for)
raises :class:`LlmUnavailable`, which the enrichment stages turn into a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx


class LlmUnavailable(RuntimeError):
    """No usable answer: the endpoint is down, slow, failing, or answered off-format."""


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


class LlmClient:
    """One ``httpx.AsyncClient`` for ``base_url`` (``http://host:port/v1``); safe to share."""

    def __init__(self, base_url: str, *, model: str = "", api_key: str = "", timeout_s: float = 20.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> LlmClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def complete_json(
        self, messages: list[ChatMessage], schema: dict[str, Any], *, max_tokens: int = 256
    ) -> dict[str, Any]:
        """The model's answer to ``messages`` as a JSON object following ``schema`` (temperature 0)."""
        body = {
            "model": self.model or "default",
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": 0,
            "max_tokens": max_tokens,
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
        }
        try:
            response = await self._http.post("/chat/completions", json=body)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
            answer = json.loads(content)
        except httpx.HTTPError as exc:
            raise LlmUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise LlmUnavailable(f"the answer is not the JSON asked for: {exc}") from exc
        if not isinstance(answer, dict):
            raise LlmUnavailable("the answer is not a JSON object")
        return answer
