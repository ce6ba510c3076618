"""Fixtures that start the real stack: one Triton for the test session, control planes on top of it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from launchers.serve_process import ServeProcess
from launchers.triton_server import TritonEndpoints, TritonServer
from launchers.worker_processes import WorkerProcess

MODEL_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """The bundled tritonserver on the project's model repository (CPU)."""
    with TritonServer(MODEL_REPOSITORY, tmp_path_factory.mktemp("triton")) as server:
        yield server


@pytest.fixture(scope="module")
def english_only_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """Triton with tiny.en as ``batch_asr`` (an English-only deployment), for the refusals of other languages."""
    from benchmarks.stack import model_repository_copy

    work = tmp_path_factory.mktemp("triton_english_only")
    repository = model_repository_copy(work / "models", batch_asr_model="tiny.en", language="en")
    with TritonServer(repository, work / "triton") as server:
        yield server


def start_server(data_dir: Path, triton_endpoints: TritonEndpoints, **environment: str) -> ServeProcess:
    """Start ``tandem serve`` as a real process using an already running Triton, on a queue of its own."""
    return ServeProcess(data_dir, triton_endpoints.grpc_url, **environment)


def start_worker(server: ServeProcess, name: str = "worker") -> WorkerProcess:
    """A ``tandem worker`` for ``server``: same database, store, queue and Triton."""
    return WorkerProcess(
        server.environment["TANDEM_TRITON_GRPC_URL"], server.data_dir / f"{name}.log", dict(server.environment)
    )


@contextmanager
def server_with_worker(data_dir: Path, triton_endpoints: TritonEndpoints, **environment: str) -> Iterator[ServeProcess]:
    """``tandem serve`` and one worker for it, both stopped on leaving."""
    server = start_server(data_dir, triton_endpoints, **environment)
    worker = start_worker(server)
    try:
        yield server
    finally:
        worker.stop()
        server.stop()


@pytest.fixture(scope="session")
def server(triton: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """The control plane shared by the read-only tests of the session."""
    running = start_server(tmp_path_factory.mktemp("server"), triton.endpoints)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def idle_server(triton: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """A control plane without workers, for a module whose tests each bring their own."""
    running = start_server(tmp_path_factory.mktemp("idle"), triton.endpoints)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def long_speech(speech) -> np.ndarray:
    """About a minute of the conversation: long enough to act on a job while it runs."""
    return np.concatenate([speech.audio] * 4)


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
    from launchers.llm_server import DEFAULT_CACHE_DIR, PACKAGED_QWEN, LlmServer, LlmStartError, resolve_gguf

    try:
        gguf = resolve_gguf(PACKAGED_QWEN, DEFAULT_CACHE_DIR)
    except LlmStartError as exc:
        pytest.skip(f"no test LLM: {exc}")
    with LlmServer(gguf, tmp_path_factory.mktemp("llm")) as llm:
        yield llm.base_url
