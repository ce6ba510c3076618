"""A real Prometheus (Debian's ``prometheus`` binary) scraping a running stack, with Tandem's alert rules.

The configuration is ``deploy/prometheus/prometheus.yml`` with its targets replaced by the given
addresses (same job names, so the dashboard's and the rules' selectors hold), a short scrape
interval, and ``deploy/prometheus/alerts.yml`` as its rules. Used by the tests that prove the
dashboard and the alerts against what the stack exposes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from launchers.child_process import stop_process, tied_to_this_process, wait_until_healthy
from launchers.triton_server import free_port

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"


class PrometheusStartError(RuntimeError):
    pass


def prometheus_config(targets: dict[str, list[str]], *, interval: str = "1s") -> dict[str, Any]:
    """The deployed configuration with each job's targets replaced by ``targets[job_name]`` (``host:port``)."""
    config = yaml.safe_load((DEPLOY_DIR / "prometheus.yml").read_text())
    unknown = set(targets) - {job["job_name"] for job in config["scrape_configs"]}
    if unknown:
        raise ValueError(f"no such job in deploy/prometheus/prometheus.yml: {sorted(unknown)}")
    config["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(DEPLOY_DIR / "alerts.yml")]
    config["scrape_configs"] = [
        {"job_name": job["job_name"], "static_configs": [{"targets": targets[job["job_name"]]}]}
        for job in config["scrape_configs"]
        if job["job_name"] in targets
    ]
    return config


class PrometheusServer:
    """``prometheus`` on a free loopback port, its data and configuration in ``work_dir``."""

    def __init__(self, targets: dict[str, list[str]], work_dir: Path, *, start_timeout_s: float = 60.0) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusStartError("prometheus is not installed (apt-get install prometheus; scripts/setup.sh)")
        work_dir.mkdir(parents=True, exist_ok=True)
        config_path = work_dir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(prometheus_config(targets)))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = work_dir / "prometheus.log"
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={work_dir / 'data'}",
                    f"--web.listen-address={self.url.removeprefix('http://')}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=tied_to_this_process(),
            )
        problem = wait_until_healthy(self._process, f"{self.url}/-/ready", start_timeout_s)
        if problem is not None:
            self.stop()
            raise PrometheusStartError(f"prometheus {problem}:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a successful answer of ``/api/v1/<path>``; raises ``ValueError`` with Prometheus' error."""
        answer = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30).json()
        if answer["status"] != "success":
            raise ValueError(f"{answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The samples of ``expression`` now (an instant vector; a scalar as one sample)."""
        data = self.api("query", query=expression)
        return data["result"] if data["resultType"] == "vector" else [{"value": data["result"]}]

    def stop(self) -> None:
        stop_process(self._process, 15)
