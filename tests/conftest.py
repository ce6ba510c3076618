"""Shared fixtures: real services started for the test session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.storage import ObjectStore, open_store
from launchers.child_process import tied_to_this_process

POSTGRES_URL = os.environ.get("TANDEM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 endpoint (``moto_server`` over HTTP) for the whole test session.

    Yields the endpoint URL; dummy AWS credentials and region are set in the environment.
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "tandem-test")
        env.setenv("AWS_SECRET_ACCESS_KEY", "tandem-test")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.delenv("AWS_PROFILE", raising=False)
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=tied_to_this_process(),
            )
        try:
            _wait_until_answers(endpoint, server, log_path)
            yield endpoint
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_answers(url: str, server: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto_server exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer at {url} within {timeout_s} s:\n{log_path.read_text()}")


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
