"""Starts the ``tritonserver`` bundled in ``nvidia-pytriton`` on the project's model repository.

Used alike by ``tandem serve``, the tests and the benchmarks. The environment fixes are those of
RUNTIME.md: a backend folder holding the Python backend and its stub, the interpreter's LIBDIR and
``nvidia_pytriton.libs`` on ``LD_LIBRARY_PATH``, the virtualenv's ``bin`` first on ``PATH``.
A hung start (the quiet failure mode) is caught by the readiness timeout, which shows the log.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytriton

from launchers.child_process import stop_process, tied_to_this_process, wait_until_healthy

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class TritonStartError(RuntimeError):
    """The server exited or did not become ready in time; the message carries its log tail."""


@dataclass(frozen=True)
class TritonEndpoints:
    grpc_url: str
    """``host:port`` for ``tritonclient.grpc``."""
    http_url: str
    metrics_url: str


def model_weights_path(model_path: str) -> str:
    """The local path of a ``config.pbtxt``'s ``model_path`` (``package:<module>`` or a path), for
    code that loads the same weights outside Triton (a baseline, a peer server)."""
    from triton_models.backend_config import resolve_model_path

    return resolve_model_path(model_path)


def _loopback_if_any(address: str) -> str:
    """Where to reach a server listening on ``address`` from this host."""
    return "127.0.0.1" if address in ("0.0.0.0", "::", "") else address


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TritonServer:
    """A running ``tritonserver`` process; use as a context manager or call start/stop."""

    def __init__(
        self,
        model_repository: Path,
        work_dir: Path,
        *,
        start_timeout_s: float = 120.0,
        metrics_address: str = "127.0.0.1",
        metrics_port: int = 0,
    ) -> None:
        """``metrics_port`` 0: a free port (tests run several servers side by side)."""
        self.metrics_address = metrics_address
        self.metrics_port = metrics_port
        self.model_repository = Path(model_repository).resolve()
        self.work_dir = Path(work_dir).resolve()
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen | None = None
        self._shm_prefix = f"tandem_{uuid.uuid4().hex[:8]}_"
        self.log_path = self.work_dir / "triton.log"
        self.endpoints: TritonEndpoints | None = None

    def __enter__(self) -> TritonServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> TritonEndpoints:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        http_port, grpc_port = free_port(), free_port()
        metrics_port = self.metrics_port or free_port()
        command = [
            str(_pytriton_dir() / "tritonserver" / "bin" / "tritonserver"),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={self._backend_directory()}",
            "--http-address=127.0.0.1",
            f"--http-port={http_port}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={grpc_port}",
            f"--metrics-address={self.metrics_address}",
            f"--metrics-port={metrics_port}",
            "--allow-metrics=true",
            "--strict-readiness=true",
            "--exit-on-error=true",
            "--exit-timeout-secs=5",
            "--disable-auto-complete-config",
            f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
            "--log-verbose=0",
        ]
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._environment(),
            start_new_session=True,
            preexec_fn=tied_to_this_process(),
        )
        log.close()
        self.endpoints = TritonEndpoints(
            grpc_url=f"127.0.0.1:{grpc_port}",
            http_url=f"http://127.0.0.1:{http_port}",
            metrics_url=f"http://{_loopback_if_any(self.metrics_address)}:{metrics_port}/metrics",
        )
        self._wait_ready()
        return self.endpoints

    def stop(self) -> None:
        """SIGTERM, wait for the clean exit, kill if it hangs, and any backend stub left in its process
        group (they are not tied to this process); always remove shared memory."""
        process, self._process = self._process, None
        stop_process(process, 15, kill_group=True)
        for leftover in Path("/dev/shm").glob(f"{self._shm_prefix}*"):
            leftover.unlink(missing_ok=True)

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _wait_ready(self) -> None:
        assert self.endpoints is not None and self._process is not None
        failure = wait_until_healthy(self._process, f"{self.endpoints.http_url}/v2/health/ready", self.start_timeout_s)
        if failure is not None:
            tail = self.log_tail()
            self.stop()
            raise TritonStartError(f"tritonserver {failure}:\n{tail}")

    def _backend_directory(self) -> Path:
        """``<work>/backends/python`` holding the backend library, its utils and the 3.11 stub."""
        root = _pytriton_dir() / "tritonserver"
        python_dir = self.work_dir / "backends" / "python"
        python_dir.mkdir(parents=True, exist_ok=True)
        sources = [
            root / "backends" / "python" / "libtriton_python.so",
            root / "backends" / "python" / "triton_python_backend_utils.py",
            root
            / "python_backend_stubs"
            / f"{sys.version_info.major}.{sys.version_info.minor}"
            / "triton_python_backend_stub",
        ]
        for source in sources:
            shutil.copy2(source, python_dir / source.name)
        return python_dir.parent

    def _environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        libraries = [sysconfig.get_config_var("LIBDIR"), str(_pytriton_dir().parent / "nvidia_pytriton.libs")]
        if environment.get("LD_LIBRARY_PATH"):
            libraries.append(environment["LD_LIBRARY_PATH"])
        environment["LD_LIBRARY_PATH"] = ":".join(libraries)
        environment["PATH"] = f"{Path(sys.executable).parent}:{environment.get('PATH', '')}"
        python_path = [str(_PROJECT_ROOT)]
        if environment.get("PYTHONPATH"):
            python_path.append(environment["PYTHONPATH"])
        environment["PYTHONPATH"] = ":".join(python_path)
        environment.setdefault("OMP_NUM_THREADS", "1")
        if "LD_PRELOAD" not in environment and (jemalloc := ctypes.util.find_library("jemalloc")):
            # Triton's own advice against memory growth: under glibc's malloc the live model's stubs
            # grew 441 -> 1066 MB over a 10-minute soak of 4 sessions (buffers of every window length).
            environment["LD_PRELOAD"] = jemalloc
        return environment


def _pytriton_dir() -> Path:
    return Path(pytriton.__file__).resolve().parent
