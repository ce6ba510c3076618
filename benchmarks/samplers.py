"""What a benchmark samples from the machine: CPU and memory of process trees, the host itself."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil


def _tree_sum(pid: int, measure) -> float:
    """``measure(process)`` summed over a process and its live descendants (0 when it is gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += measure(process)
    return total


def per_triton_model(triton_pid: int, measure) -> dict[str, float]:
    """``measure(process)`` summed per Python-backend model (its stubs run ``…/<model>/1/model.py``);
    the server process itself under ``tritonserver``."""
    totals: dict[str, float] = {}
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(triton_pid)
        totals["tritonserver"] = measure(root)
        for process in root.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                script = next((arg for arg in process.cmdline() if arg.endswith("/model.py")), None)
                if script is not None:
                    model = Path(script).parent.parent.name
                    totals[model] = totals.get(model, 0.0) + measure(process)
    return totals


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants."""
    return _tree_sum(pid, lambda process: sum(process.cpu_times()[:2]))


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its live descendants."""
    return int(_tree_sum(pid, lambda process: process.memory_info().rss))


class CpuMeter:
    """CPU use over an interval: system-wide % and CPU s per wall s of named process trees."""

    def __init__(self, trees: dict[str, int]) -> None:
        self.trees = trees

    def start(self) -> None:
        psutil.cpu_percent(interval=None)
        self._started = time.monotonic()
        self._before = {name: tree_cpu_seconds(pid) for name, pid in self.trees.items()}
        self._client_before = _own_cpu_seconds()

    def stop(self) -> dict[str, float]:
        """Also ``other_cpu_s_per_s``: what the rest of the machine used (other users' work)."""
        wall = time.monotonic() - self._started
        system_percent = psutil.cpu_percent(interval=None)
        report = {"system_percent": round(system_percent, 1), "wall_s": round(wall, 2)}
        used = 0.0
        for name, pid in self.trees.items():
            rate = (tree_cpu_seconds(pid) - self._before[name]) / wall
            used += rate
            report[f"{name}_cpu_s_per_s"] = round(rate, 3)
        client = (_own_cpu_seconds() - self._client_before) / wall
        report["benchmark_client_cpu_s_per_s"] = round(client, 3)
        total = system_percent / 100 * (psutil.cpu_count() or 1)
        report["other_cpu_s_per_s"] = round(max(0.0, total - used - client), 3)
        return report


def wait_for_quiet(threshold_percent: float, max_wait_s: float, sample_s: float = 2.0) -> float:
    """Wait (at most ``max_wait_s``) until system CPU over ``sample_s`` is below the threshold.

    The machine may be shared; returns the last sample so the report shows what the level started on.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        busy = psutil.cpu_percent(interval=sample_s)
        if busy < threshold_percent or time.monotonic() >= deadline:
            return busy


def _own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


class RssSampler:
    """Peak RSS (MB) of process trees, sampled in a thread; every sample in :attr:`samples`."""

    def __init__(self, roots: dict[str, Callable[[], list[int]]], interval_s: float = 0.2) -> None:
        self._roots = roots
        self._interval_s = interval_s
        self.peak_mb = {name: 0.0 for name in roots}
        self.samples: list[tuple[float, dict[str, float]]] = []
        """``(time.time(), MB by tree)`` of each sample."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = {name: sum(tree_rss_bytes(pid) for pid in pids()) / 2**20 for name, pids in self._roots.items()}
            for name, mb in sample.items():
                self.peak_mb[name] = max(self.peak_mb[name], mb)
            self.samples.append((time.time(), sample))
            self._stop.wait(self._interval_s)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "shared": "the machine is shared with other agents' work: see load averages next to each figure",
    }
