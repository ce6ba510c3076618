"""Shared fixtures: real services started for the test session."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.storage import ObjectStore, open_store
from launchers.moto_server import CREDENTIALS, MotoServer

POSTGRES_URL = os.environ.get("TANDEM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 endpoint (``moto_server`` over HTTP) for the whole test session.

    Yields the endpoint URL; dummy AWS credentials and region are set in the environment.
    """
    with pytest.MonkeyPatch.context() as env:
        for name, value in CREDENTIALS.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        with MotoServer(tmp_path_factory.mktemp("moto")) as server:
            yield server.endpoint


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """Each object store in turn: a local folder, then a fresh S3 bucket (with a key prefix)."""
    if request.param == "local":
        return open_store(str(tmp_path / "objects"))
    endpoint = request.getfixturevalue("s3_server")
    return open_store(f"s3://tandem-{uuid.uuid4().hex[:12]}/deploy", endpoint)


pytest_plugins = ["tests.stack_fixtures", "tests.skip_guard"]


def _postgres_answers() -> bool:
    url = make_url(POSTGRES_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """A URL selecting a new schema (``search_path``), dropped afterwards; skips visibly without PostgreSQL."""
    if not _postgres_answers():
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_URL} (set TANDEM_TEST_POSTGRES_URL)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema per test."""
    with fresh_postgres_schema() as url:
        yield url
