"""Webhook delivery re-checks its target: a URL that now resolves to a private address is refused, the
POST goes to the address that was checked (with the URL's own ``Host``), and redirects are not followed."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.jobs.params import JobParams
from core.persistence import jobs as repository
from core.persistence.database import Database
from core.persistence.jobs import JobSource
from core.persistence.states import JobStatus
from launchers.triton_server import free_port
from pipelines import services
from pipelines.webhooks import deliver_webhook


class _Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.server.requests.append(dict(self.headers))  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers["content-length"]))
        redirect = self.server.redirect_to  # type: ignore[attr-defined]
        self.send_response(302 if redirect else 204)
        if redirect:
            self.send_header("location", redirect)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receivers() -> Iterator[list[http.server.ThreadingHTTPServer]]:
    started = []
    for _ in range(2):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
        server.requests, server.redirect_to = [], None  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    yield started
    for server in started:
        server.shutdown()


def _worker_with_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, webhook_url: str, allow_private: bool) -> str:
    monkeypatch.setenv("TANDEM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TANDEM_TRITON_GRPC_URL", "127.0.0.1:1")
    monkeypatch.setenv("TANDEM_WEBHOOK_SECRET", "whsec_" + "dGFuZGVtLXRlc3Qtc2VjcmV0LXRhbmRlbS10ZXN0LXNl")
    monkeypatch.setenv("TANDEM_WEBHOOK_ALLOW_PRIVATE", str(allow_private).lower())
    services.worker_services.cache_clear()
    database = Database.open(f"sqlite:///{tmp_path / 'tandem.db'}")
    job_id = repository.new_job_id()
    repository.create_job(
        database, job_id=job_id, source=JobSource.UPLOAD, params=JobParams(webhook_url=webhook_url), input_key="x"
    )
    repository.finish_job(database, job_id, JobStatus.FAILED, error="test")
    database.close()
    return job_id


@pytest.fixture(autouse=True)
def _fresh_services() -> Iterator[None]:
    yield
    services.worker_services.cache_clear()


def test_a_target_that_now_resolves_to_a_private_address_is_refused(monkeypatch, tmp_path, receivers) -> None:
    url = f"http://localhost:{receivers[0].server_port}/hook"
    job_id = _worker_with_job(monkeypatch, tmp_path, url, allow_private=False)
    assert deliver_webhook(job_id).startswith("refused")
    assert receivers[0].requests == []  # type: ignore[attr-defined]


def test_delivery_goes_to_the_checked_address_with_the_urls_host(monkeypatch, tmp_path, receivers) -> None:
    url = f"http://localhost:{receivers[0].server_port}/hook"
    job_id = _worker_with_job(monkeypatch, tmp_path, url, allow_private=True)
    assert deliver_webhook(job_id) == "delivered (204)"
    (headers,) = receivers[0].requests  # type: ignore[attr-defined]
    headers = {key.lower(): value for key, value in headers.items()}
    assert headers["host"] == f"localhost:{receivers[0].server_port}" and headers["webhook-signature"]


def test_redirects_are_not_followed(monkeypatch, tmp_path, receivers) -> None:
    first, second = receivers
    first.redirect_to = f"http://127.0.0.1:{second.server_port}/elsewhere"  # type: ignore[attr-defined]
    job_id = _worker_with_job(monkeypatch, tmp_path, f"http://127.0.0.1:{first.server_port}/hook", allow_private=True)
    with pytest.raises(httpx.HTTPStatusError):  # RQ retries it; the redirect target never hears of it
        deliver_webhook(job_id)
    assert len(first.requests) == 1 and second.requests == []  # type: ignore[attr-defined]
