"""``/v1/keys`` (``admin``): create, list and revoke API keys; ``POST /v1/tokens``: a WebSocket token."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody

from control_plane.auth.principal import principal_of
from control_plane.auth.tokens import IssuedToken
from control_plane.rest import app_state
from control_plane.rest.errors import ApiError, api_error_handler, validation_error_handler
from control_plane.rest.schemas import ErrorResponse
from core.persistence import api_keys as repository
from core.persistence.api_keys import ApiKeyView
from core.tenancy import Scope, check_tenant_name, parse_scopes

KEYS_PATH = "/v1/keys"
TOKENS_PATH = "/v1/tokens"


class CreateKeyRequest(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    scopes: list[str]
    rate_limit_per_minute: int | None = None


class CreatedKey(msgspec.Struct, frozen=True, kw_only=True):
    """The new key: ``key`` is shown this once and stored only as a hash."""

    key: str
    id: str
    tenant: str
    scopes: list[Scope]
    rate_limit_per_minute: int | None
    created_at: datetime


class KeyListResponse(msgspec.Struct, frozen=True):
    keys: list[ApiKeyView]


class KeysController(Controller):
    """API keys of every tenant (the ``admin`` scope)."""

    path = KEYS_PATH
    tags = ["keys"]
    exception_handlers = {ApiError: api_error_handler, ValidationException: validation_error_handler}

    @post("", status_code=201, sync_to_thread=True, responses={400: ResponseSpec(ErrorResponse)})
    def create_key(self, state: State, data: JSONBody[CreateKeyRequest]) -> CreatedKey:
        """A key for ``tenant`` with ``scopes``; the response is the only time the key is shown."""
        try:
            scopes = parse_scopes(data.scopes)
            check_tenant_name(data.tenant)
            key, view = repository.create_api_key(
                app_state.database(state),
                tenant=data.tenant,
                scopes=scopes,
                rate_limit_per_minute=data.rate_limit_per_minute,
            )
        except ValueError as exc:
            raise ApiError(400, "invalid_parameters", str(exc)) from exc
        return CreatedKey(
            key=key,
            id=view.id,
            tenant=view.tenant,
            scopes=view.scopes,
            rate_limit_per_minute=view.rate_limit_per_minute,
            created_at=view.created_at,
        )

    @get("", sync_to_thread=True)
    def list_keys(self, state: State) -> KeyListResponse:
        """Every key (never the key itself), revoked ones with ``revoked_at``."""
        return KeyListResponse(repository.list_api_keys(app_state.database(state)))

    @delete("/{key_id:str}", sync_to_thread=True, responses={404: ResponseSpec(ErrorResponse)})
    def revoke_key(self, state: State, key_id: FromPath[str]) -> None:
        """Revoke a key: it stops working at once."""
        try:
            repository.revoke_api_key(app_state.database(state), key_id)
        except repository.ApiKeyNotFoundError as exc:
            raise ApiError(404, "key_not_found", f"no key {key_id}") from exc


@post(TOKENS_PATH, status_code=201, tags=["keys"])
async def create_token(request: Request, state: State) -> IssuedToken:
    """A single-use token for one WebSocket (``?token=``), valid 60 s, standing for the calling key."""
    return await state.auth_edge.tokens.issue(principal_of(request))
