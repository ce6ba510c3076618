"""``moto_server``: a real S3 endpoint over HTTP for the tests and benchmarks (the ``moto[server]`` package)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from launchers.child_process import stop_process, tied_to_this_process
from launchers.triton_server import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "tandem-test",
    "AWS_SECRET_ACCESS_KEY": "tandem-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""What clients of this endpoint put in their environment (moto accepts any)."""


class MotoServer:
    """``moto_server`` on a free loopback port, its output in ``work_dir/moto_server.log``; a context manager."""

    def __init__(self, work_dir: Path, *, timeout_s: float = 30.0) -> None:
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self._log_path = work_dir / "moto_server.log"
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=tied_to_this_process(),
            )
        try:
            self._wait_until_answers(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_until_answers(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode}:\n{self._log_path.read_text()}")
            try:
                urllib.request.urlopen(self.endpoint, timeout=1).close()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto_server did not answer at {self.endpoint} within {timeout_s} s")

    def stop(self) -> None:
        stop_process(self._process, 10)

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
