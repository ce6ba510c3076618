"""Operating Tandem: the metrics, the dashboard and the alert rules, proven on a real Prometheus
scraping a real stack (control plane, worker, Triton) after live and batch traffic; logs with ids."""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
import yaml

from clients.jobs_client import JOBS_PATH, upload, wait_for_status, wav_bytes
from clients.stream_client import StreamResult, encode_audio, stream_audio, stream_url
from core.protocol import AudioEncoding, ErrorMessage, TranscriptFinal, decode_server_message
from launchers.prometheus_server import PrometheusServer
from launchers.serve_process import ServeProcess
from launchers.triton_server import free_port
from launchers.worker_processes import WorkerProcess
from tests.stack_fixtures import start_server, start_worker

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "tandem.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
GPU_ONLY = "nv_gpu_"
"""Queries of GPU metrics: Triton exposes none on a CPU stack, so they may return nothing here."""


def dashboard_queries() -> list[tuple[str, str]]:
    """``(panel title, PromQL)`` of every query of the dashboard."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(panel["title"], target["expr"]) for panel in panels for target in panel.get("targets", [])]


def alert_rules() -> list[tuple[str, str]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


class _WebhookReceiver(http.server.BaseHTTPRequestHandler):
    deliveries = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        type(self).deliveries += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Traffic:
    live: StreamResult
    upload_audio_s: float


@dataclass
class MonitoredStack:
    server: ServeProcess
    worker: WorkerProcess
    prometheus: PrometheusServer
    traffic: Traffic


def _metrics(url: str) -> dict[str, float]:
    """``name{labels}`` → value of a Prometheus text exposition."""
    samples = {}
    for line in httpx.get(url, timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _send_live_traffic(server: ServeProcess, speech) -> StreamResult:
    """A session with enhancement at its end (paced at 2× real time), and one refused for a bad parameter."""
    url = stream_url(server.ws_url, {"store_audio": True, "enhance_on_end": True})
    audio = encode_audio(speech.audio, AudioEncoding.PCM_S16LE)
    result = asyncio.run(stream_audio(url, audio, bytes_per_second=32000, speed=2.0))

    async def refused() -> None:
        async with websockets.connect(stream_url(server.ws_url, {"sample_rate": 5})) as socket:
            message = decode_server_message(await socket.recv())
            assert isinstance(message, ErrorMessage) and message.code == "invalid_parameters"

    asyncio.run(refused())
    return result


def _wait_for_prometheus(prometheus: PrometheusServer, expression: str, minimum: float, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        samples = prometheus.query(expression)
        if samples and float(samples[0]["value"][1]) >= minimum:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never saw {expression} >= {minimum}")


@pytest.fixture(scope="module")
def stack(triton, tmp_path_factory, speech) -> Iterator[MonitoredStack]:
    """``tandem serve``'s layout (a worker sharing the control plane's metrics folder) scraped by
    Prometheus with the CPU compose file's jobs (``tandem``, ``triton``), after its traffic."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus; scripts/setup.sh does)")
    data_dir = tmp_path_factory.mktemp("monitored")
    try:
        server = start_server(data_dir, triton.endpoints, TANDEM_WEBHOOK_ALLOW_PRIVATE="true")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    worker = start_worker(server)
    prometheus = None
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _WebhookReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        prometheus = PrometheusServer(
            {
                "tandem": [server.http_url.removeprefix("http://")],
                "triton": [triton.endpoints.metrics_url.removeprefix("http://").removesuffix("/metrics")],
            },
            data_dir / "prometheus",
        )
        live = _send_live_traffic(server, speech)
        assert live.session_end is not None and live.session_end.enhancement_job_id
        assert httpx.get(f"{server.http_url}{JOBS_PATH}/no-such-job").status_code == 404
        upload_audio = speech.audio[: 16000 * 4]
        webhook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        created = upload(server.http_url, wav_bytes(upload_audio), webhook_url=webhook_url)
        assert created.status_code == 201, created.text
        for job_id in (live.session_end.enhancement_job_id, created.json()["id"]):
            job = wait_for_status(server.http_url, job_id, timeout_s=300)
            assert job["status"] == "completed", worker.log()[-3000:]
        _wait_for_prometheus(prometheus, "sum(tandem_webhook_deliveries_total)", 1)
        _wait_for_prometheus(prometheus, "sum(tandem_jobs_total)", 2)
        time.sleep(3)  # a few more scrapes: rates over the traffic's last samples
        yield MonitoredStack(server, worker, prometheus, Traffic(live, len(upload_audio) / 16000))
    finally:
        receiver.shutdown()
        if prometheus is not None:
            prometheus.stop()
        worker.stop()
        server.stop()


def test_metrics_count_the_traffic(stack: MonitoredStack, speech) -> None:
    """The control plane's /metrics shows the live session and, from the shared folder, the worker's jobs."""
    metrics = _metrics(f"{stack.server.http_url}/metrics")
    assert metrics['tandem_live_sessions_total{status="completed"}'] == 1
    assert metrics["tandem_live_sessions_active"] == 0
    assert metrics["tandem_live_audio_seconds_total"] == pytest.approx(speech.duration_s, abs=0.01)
    finals = len(stack.traffic.live.of_type(TranscriptFinal))
    assert metrics["tandem_live_final_seconds_count"] == finals > 0
    assert metrics["tandem_live_first_partial_seconds_count"] >= 1
    mean_first_partial_s = (
        metrics["tandem_live_first_partial_seconds_sum"] / metrics["tandem_live_first_partial_seconds_count"]
    )
    assert 0 < mean_first_partial_s < 10
    assert metrics['tandem_errors_total{code="invalid_parameters"}'] == 1
    assert metrics['tandem_errors_total{code="job_not_found"}'] == 1

    assert metrics['tandem_jobs_total{status="completed"}'] == 2
    assert metrics["tandem_job_audio_seconds_total"] == pytest.approx(
        speech.duration_s + stack.traffic.upload_audio_s, abs=0.1
    )
    assert metrics["tandem_job_queue_wait_seconds_count"] == 2
    assert metrics["tandem_enhancement_ready_seconds_count"] == 1
    stage_counts = (re.match(r'tandem_job_stage_seconds_count{stage="(\w+)"', name) for name in metrics)
    stages = {match.group(1) for match in stage_counts if match}
    assert {"prepare", "transcribe", "diarize", "merge", "persist"} <= stages
    assert metrics['tandem_webhook_deliveries_total{outcome="delivered"}'] == 1
    assert metrics["tandem_triton_ready"] == 1 and metrics["tandem_queue_depth"] == 0


@pytest.mark.parametrize(("title", "expression"), dashboard_queries())
def test_dashboard_query_has_data(stack: MonitoredStack, title: str, expression: str) -> None:
    assert "$" not in expression, "queries run as they are: no Grafana variables"
    samples = stack.prometheus.query(expression)  # raises on a query error
    if GPU_ONLY not in expression:
        assert samples, f"panel {title!r}: {expression} returned nothing after the traffic"


def test_alert_rules_evaluate_and_the_healthy_stack_raises_none_of_the_paging_ones(stack: MonitoredStack) -> None:
    for _, expression in alert_rules():
        stack.prometheus.query(expression)  # raises on a query error
    _wait_for_rule_evaluation(stack.prometheus)
    groups = stack.prometheus.api("rules")["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(rules) == {name for name, _ in alert_rules()}
    assert all(rule["health"] == "ok" for rule in rules.values()), [r.get("lastError") for r in rules.values()]
    active = {alert["labels"]["alertname"] for alert in stack.prometheus.api("alerts")["alerts"]}
    healthy_stack_never_raises = {
        "TandemDown",
        "TandemTritonNotReady",
        "TandemJobFailureRatioHigh",
        "TandemServerErrors",
    }
    assert not active & healthy_stack_never_raises


def _wait_for_rule_evaluation(prometheus: PrometheusServer) -> None:
    for _ in range(60):
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        if rules and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules):
            return
        time.sleep(0.5)


def _json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_logs_are_json_with_session_job_and_request_ids(stack: MonitoredStack) -> None:
    server_lines = _json_lines(stack.server.log())
    assert server_lines and all({"event", "level", "timestamp"} <= set(line) for line in server_lines)
    live_lines = [line for line in server_lines if line["logger"].startswith("control_plane.live")]
    session_id = stack.traffic.live.session_end.session_id
    assert {"session.begin", "session.end"} <= {line["event"] for line in live_lines}
    assert all(line.get("session_id") for line in live_lines)
    assert any(line.get("session_id") == session_id for line in live_lines)

    worker_lines = _json_lines(stack.worker.log())
    job_lines = [line for line in worker_lines if line["logger"].startswith("pipelines.")]
    job_lines = [line for line in job_lines if line["logger"] != "pipelines.worker"]  # the reaper's own lines
    assert {"job.started", "job.finished"} <= {line["event"] for line in job_lines}
    assert all(line.get("job_id") for line in job_lines)
    rq_done = [line for line in worker_lines if "Job OK" in line["event"]]  # RQ's own lines, during a run
    assert len(rq_done) >= 3 and all(line.get("job_id") for line in rq_done)  # two runs and a webhook delivery

    answered = httpx.get(f"{stack.server.http_url}/health/live")
    assert re.fullmatch(r"[0-9a-f]{32}", answered.headers["x-request-id"])
    given = httpx.get(f"{stack.server.http_url}/health/live", headers={"x-request-id": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    access = [line for line in _json_lines(stack.server.log()) if line.get("request_id") == "trace-42"]
    assert access, "the request's log lines carry its id"


def test_a_worker_apart_serves_its_metrics_on_its_port(triton, tmp_path: Path, speech) -> None:
    """docker-compose.gpu.yml's layout: a worker with its own metrics folder, scraped on TANDEM_WORKER_METRICS_PORT."""
    server = start_server(tmp_path / "server", triton.endpoints)
    port = free_port()
    environment = dict(
        server.environment, TANDEM_METRICS_DIR=str(tmp_path / "worker-metrics"), TANDEM_WORKER_METRICS_PORT=str(port)
    )
    worker = WorkerProcess(environment["TANDEM_TRITON_GRPC_URL"], tmp_path / "worker.log", environment)
    try:
        job_id = upload(server.http_url, wav_bytes(speech.audio[: 16000 * 3])).json()["id"]
        assert wait_for_status(server.http_url, job_id, timeout_s=300)["status"] == "completed", worker.log()[-3000:]
        on_port = _metrics(f"http://127.0.0.1:{port}/metrics")
        assert on_port['tandem_jobs_total{status="completed"}'] == 1
        assert on_port['tandem_job_stage_seconds_count{stage="transcribe"}'] == 1
        assert not {"tandem_queue_depth", "tandem_triton_ready"} & set(on_port), "the control plane's to report"
        on_control_plane = _metrics(f"{server.http_url}/metrics")
        assert on_control_plane['tandem_jobs_total{status="completed"}'] == 0, "counted once, where the worker is"
    finally:
        worker.stop()
        server.stop()


def test_tandem_serve_alone_exposes_triton_on_its_port_and_its_workers_jobs(tmp_path: Path, speech) -> None:
    """The one-command stack: Triton's metrics on TANDEM_TRITON_METRICS_PORT, its own workers' jobs on /metrics."""
    triton_metrics_port = free_port()
    server = ServeProcess(
        tmp_path / "serve",
        "",  # no Triton given: `tandem serve` starts its own
        start_timeout_s=240,
        TANDEM_TRITON_METRICS_PORT=str(triton_metrics_port),
        TANDEM_WORKERS="1",
        TANDEM_QUEUE_NAME=f"tandem-test-{triton_metrics_port}",
    )
    try:
        job_id = upload(server.http_url, wav_bytes(speech.audio[: 16000 * 3])).json()["id"]
        assert wait_for_status(server.http_url, job_id, timeout_s=300)["status"] == "completed", server.log_tail()
        assert "nv_inference_count" in httpx.get(f"http://127.0.0.1:{triton_metrics_port}/metrics").text
        metrics = _metrics(f"{server.http_url}/metrics")
        assert metrics['tandem_jobs_total{status="completed"}'] == 1
        assert metrics['tandem_job_stage_seconds_count{stage="transcribe"}'] == 1
    finally:
        server.stop()
