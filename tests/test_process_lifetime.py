"""Children die with their parent however it dies: a SIGKILLed ``tandem serve`` leaves no process,
a benchmark stopped by SIGTERM leaves neither Triton, nor its backend stubs, nor their shared memory."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from launchers.serve_process import ServeProcess
from launchers.triton_server import free_port
from tests.stack_fixtures import MODEL_REPOSITORY

SERVED_MODELS = ("streaming_asr", "batch_asr")
"""Enough for the control plane to start (its live and batch models), so this Triton starts quickly."""


BENCHMARK_MODELS = ("speaker_overlap", "speaker_embedding")
"""The ``speaker_overlap`` stub is the one that outlived a killed tritonserver (its torch threads)."""

BENCHMARK = """
import sys, time
from pathlib import Path

import benchmarks  # what every ``python -m benchmarks.<name>`` imports first
from launchers.triton_server import TritonServer

with TritonServer(Path(sys.argv[1]), Path(sys.argv[2]), start_timeout_s=600) as triton:
    print(triton._shm_prefix, flush=True)
    time.sleep(3600)
"""


def _small_repository(folder: Path, models: tuple[str, ...] = SERVED_MODELS) -> Path:
    folder.mkdir()
    for model in models:
        (folder / model).symlink_to(MODEL_REPOSITORY / model, target_is_directory=True)
    return folder


def test_a_killed_tandem_serve_leaves_none_of_its_processes(tmp_path: Path) -> None:
    server = ServeProcess(
        tmp_path / "data",
        "",  # no Triton given: it starts its own, a Redis, two workers (their schedulers)
        start_timeout_s=600,
        TANDEM_WORKERS="2",
        TANDEM_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        TANDEM_MODEL_REPOSITORY=str(_small_repository(tmp_path / "models")),
    )
    try:
        serve = psutil.Process(server.process.pid)
        family = serve.children(recursive=True)
        names = " ".join(sorted(process.name() for process in family))
        commands = [process.cmdline() for process in serve.children()]
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
    assert "tritonserver" in names and "triton_python_backend_stub" in names and "redis-server" in names, names
    assert sum(command[-2:] == ["clients.cli", "worker"] for command in commands) == 2, commands
    deadline = time.monotonic() + 60
    while alive := [process for process in family if _running(process)]:
        assert time.monotonic() < deadline, [(p.pid, p.name(), p.cmdline()[:3]) for p in alive]
        time.sleep(0.5)


def test_a_benchmark_stopped_by_sigterm_leaves_neither_triton_nor_its_stubs(tmp_path: Path) -> None:
    """The benchmark leaves its ``with`` blocks: Triton stopped, its stubs gone, its shared memory
    removed. Before, Python's default SIGTERM died at once and Triton was killed with it (tied to
    it), never unloading its models; its stubs were left to notice, and a ``speaker_overlap`` stub
    once ran on for good beside its shared memory."""
    repository = _small_repository(tmp_path / "models", BENCHMARK_MODELS)
    benchmark = subprocess.Popen(
        [sys.executable, "-c", BENCHMARK, str(repository), str(tmp_path / "triton")],
        cwd=MODEL_REPOSITORY.parent, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        shm_prefix = benchmark.stdout.readline().strip()
        assert shm_prefix, "Triton did not start"
        family = psutil.Process(benchmark.pid).children(recursive=True)
        names = " ".join(sorted(process.name() for process in family))
        assert "tritonserver" in names and names.count("triton_python_backend_stub") == 2, names
    finally:
        benchmark.send_signal(signal.SIGTERM)
        benchmark.wait(timeout=60)
    deadline = time.monotonic() + 20
    while alive := [process for process in family if _running(process)]:
        if time.monotonic() > deadline:
            for process in alive:
                process.kill()
            raise AssertionError([(p.pid, p.name(), p.cmdline()[:2]) for p in alive])
        time.sleep(0.5)
    left = list(Path("/dev/shm").glob(f"{shm_prefix}*"))
    for leftover in left:
        leftover.unlink(missing_ok=True)
    assert not left, left
    log = (tmp_path / "triton" / "triton.log").read_text()
    assert all(f"successfully unloaded '{model}'" in log for model in BENCHMARK_MODELS), log[-2000:]
    assert benchmark.returncode == 128 + signal.SIGTERM


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
