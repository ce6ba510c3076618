"""Children die with their parent however it dies: a SIGKILLed ``tandem serve`` leaves no process."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil

from launchers.serve_process import ServeProcess
from launchers.triton_server import free_port
from tests.stack_fixtures import MODEL_REPOSITORY

SERVED_MODELS = ("streaming_asr", "batch_asr")
"""Enough for the control plane to start (its live and batch models), so this Triton starts quickly."""


def _small_repository(folder: Path) -> Path:
    folder.mkdir()
    for model in SERVED_MODELS:
        (folder / model).symlink_to(MODEL_REPOSITORY / model, target_is_directory=True)
    return folder


def test_a_killed_tandem_serve_leaves_none_of_its_processes(tmp_path: Path) -> None:
    server = ServeProcess(
        tmp_path / "data", "",  # no Triton given: it starts its own, a Redis, two workers (their schedulers)
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


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
