"""Fixtures that start the real stack: one Triton for the test session, control planes on top of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from control_plane.triton_server import TritonEndpoints, TritonServer, free_port
from control_plane.worker_processes import WorkerProcess

MODEL_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """The bundled tritonserver on the project's model repository (CPU)."""
    with TritonServer(MODEL_REPOSITORY, tmp_path_factory.mktemp("triton")) as server:
        yield server


@dataclass
class RunningServer:
    """A ``tandem serve`` process: ``http_url`` / ``ws_url`` and its data folder."""

    process: subprocess.Popen
    http_url: str
    ws_url: str
    data_dir: Path
    log_path: Path
    environment: dict[str, str]
    """The ``TANDEM_*`` environment it runs with (workers for it need the same)."""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(data_dir: Path, triton_endpoints: TritonEndpoints, **environment: str) -> RunningServer:
    """Start ``tandem serve`` as a real process using an already running Triton."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ)
    env.update(
        TANDEM_PORT=str(port),
        TANDEM_DATA_DIR=str(data_dir),
        TANDEM_TRITON_GRPC_URL=triton_endpoints.grpc_url,
        TANDEM_QUEUE_NAME=f"tandem-test-{uuid.uuid4().hex[:8]}",
        TANDEM_WORKERS="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(environment)
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "control_plane.cli", "serve"], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    server = RunningServer(process, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", data_dir, log_path, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tandem serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.http_url}/health/live", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"tandem serve did not answer:\n{server.log()}")


def start_worker(server: RunningServer, name: str = "worker") -> WorkerProcess:
    """A ``tandem worker`` for ``server``: same database, store, queue and Triton."""
    return WorkerProcess(
        server.environment["TANDEM_TRITON_GRPC_URL"], server.data_dir / f"{name}.log", dict(server.environment)
    )


@pytest.fixture(scope="session")
def server(triton: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The control plane shared by the read-only tests of the session."""
    running = start_server(tmp_path_factory.mktemp("server"), triton.endpoints)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def speech():
    """The four-line espeak conversation (skips visibly if espeak-ng is missing)."""
    from benchmarks.speech import conversation, espeak_available

    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return conversation()


@pytest.fixture(scope="session")
def llm_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama.cpp server on loopback with the packaged Qwen 0.5B GGUF; yields its ``/v1`` base URL."""
    from control_plane.llm_server import DEFAULT_CACHE_DIR, PACKAGED_QWEN, LlmServer, LlmStartError, resolve_gguf

    try:
        gguf = resolve_gguf(PACKAGED_QWEN, DEFAULT_CACHE_DIR)
    except LlmStartError as exc:
        pytest.skip(f"no test LLM: {exc}")
    with LlmServer(gguf, tmp_path_factory.mktemp("llm")) as llm:
        yield llm.base_url
