"""One metrics folder per host: the control plane and its workers add their samples up there.

RQ workers are separate processes. prometheus-client's multiprocess mode lets each process write
its samples to files in one folder (``PROMETHEUS_MULTIPROC_DIR``) and whoever exposes them adds
them up: the control plane's ``/metrics`` then shows the workers' jobs with no extra scrape target
on a single host. Workers on other hosts (their own containers) expose their folder on
``TANDEM_WORKER_METRICS_PORT`` instead (:func:`serve_worker_metrics`).

The mode is chosen when a metric is created, so :func:`share_metrics` runs before
:mod:`core.metrics` is imported.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from prometheus_client import values

from core.settings import Settings


def metrics_dir(settings: Settings) -> Path:
    """``TANDEM_METRICS_DIR``, or ``<data_dir>/metrics``."""
    return Path(settings.metrics_dir) if settings.metrics_dir else settings.data_dir / "metrics"


def share_metrics(directory: Path, *, fresh: bool) -> None:
    """Record this process's metrics (and its children's) in ``directory``; ``fresh`` empties it first
    (the process that exposes them, at its start: samples of a previous run would add up)."""
    if "core.metrics" in sys.modules:
        raise RuntimeError("share_metrics() must run before core.metrics is imported")
    if fresh:
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())
    values.ValueClass = values.get_value_class()


def serve_worker_metrics(port: int, address: str = "0.0.0.0") -> None:
    """Expose this host's metrics folder on ``port`` (a background thread; for workers apart from the control plane)."""
    from prometheus_client import start_http_server

    from core.metrics import metrics_registry

    start_http_server(port, addr=address, registry=metrics_registry())
