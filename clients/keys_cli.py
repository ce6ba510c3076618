"""``tandem keys create|list|revoke``: API keys, straight in the server's database (``TANDEM_DATABASE_URL``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from core.persistence import api_keys as repository
from core.persistence.database import Database
from core.settings import load_settings
from core.tenancy import parse_scopes

keys_app = typer.Typer(help="API keys for TANDEM_AUTH=keys: create, list, revoke.", no_args_is_help=True)
_stderr = Console(stderr=True)


def _database() -> Database:
    return Database.open(load_settings().resolved_database_url)


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="The tenant the key's sessions, jobs and speakers belong to.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: jobs:read,jobs:write,realtime,speakers,admin.")],
    rate_limit: Annotated[
        int | None, typer.Option(min=1, help="Requests per minute (default: TANDEM_RATE_LIMIT_PER_MINUTE).")
    ] = None,
) -> None:
    """Create a key and print it once, alone on a line of stdout (it is stored only as a hash)."""
    try:
        parsed = parse_scopes(scopes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scopes") from exc
    database = _database()
    try:
        key, view = repository.create_api_key(database, tenant=tenant, scopes=parsed, rate_limit_per_minute=rate_limit)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tenant") from exc
    finally:
        database.close()
    _stderr.print(f"created {view.id} for tenant {view.tenant} ({', '.join(view.scopes)}); it is shown only now:")
    print(key, flush=True)


@keys_app.command("list")
def list_keys() -> None:
    """Every key: id, tenant, scopes, rate limit, created, revoked (never the key itself)."""
    database = _database()
    try:
        views = repository.list_api_keys(database)
    finally:
        database.close()
    for view in views:
        fields = [
            view.id,
            view.tenant,
            ",".join(view.scopes),
            str(view.rate_limit_per_minute or "-"),
            view.created_at.isoformat(timespec="seconds"),
            f"revoked {view.revoked_at.isoformat(timespec='seconds')}" if view.revoked_at else "active",
        ]
        print("\t".join(fields))


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...), as `tandem keys list` shows.")]) -> None:
    """Revoke a key: it stops working at once."""
    database = _database()
    try:
        repository.revoke_api_key(database, key_id)
    except repository.ApiKeyNotFoundError:
        _stderr.print(f"[red]no key {key_id}[/red]")
        raise typer.Exit(1) from None
    finally:
        database.close()
    _stderr.print(f"revoked {key_id}")
