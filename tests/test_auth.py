"""API keys, scopes, rate limits, WebSocket tokens and tenants, from the outside: a real ``tandem serve``
with ``TANDEM_AUTH=keys``, keys made by the ``tandem keys`` command, real HTTP and WebSocket clients."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
import websockets
from litestar.routes import HTTPRoute, WebSocketRoute

from clients.jobs_client import JOBS_PATH as JOBS
from clients.jobs_client import wav_bytes
from control_plane.app import create_app
from core.protocol import ErrorMessage, SessionBegin, SessionEnd
from core.settings import load_settings
from launchers.serve_process import PROJECT_ROOT, ServeProcess
from launchers.triton_server import free_port
from tests.auth_helpers import bearer, client, create_key, open_socket, tandem
from tests.stack_fixtures import start_server

STREAM = "/v1/audio/transcriptions/stream"
OPEN_PREFIXES = ("/health", "/schema", "/console")
"""With ``/`` (the console's page): the console asks for a key itself."""
ALL_SCOPES = "jobs:read,jobs:write,realtime,speakers,admin"


@pytest.fixture(scope="module")
def keyed(triton, tmp_path_factory) -> Iterator[ServeProcess]:
    """A control plane with keys on, on every interface; a tenant holds at most one live session at once."""
    server = start_server(
        tmp_path_factory.mktemp("keyed"),
        triton.endpoints,
        TANDEM_AUTH="keys",
        TANDEM_HOST="0.0.0.0",
        TANDEM_TENANT_MAX_SESSIONS="1",
    )
    yield server
    server.stop()


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _route_table() -> tuple[list[tuple[str, str]], list[str]]:
    """Every (method, path) of the app's HTTP routes and every WebSocket path, parameters filled in."""
    app = create_app(load_settings(auth="keys"), "127.0.0.1:1")
    http = [
        (method, _concrete(route.path))
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method in sorted(route.methods)
    ]
    sockets = [_concrete(route.path) for route in app.routes if isinstance(route, WebSocketRoute)]
    return http, sockets


def test_every_route_but_the_open_ones_needs_a_key(keyed: ServeProcess) -> None:
    http, sockets = _route_table()
    assert len(http) > 20 and sockets
    with client(keyed, None) as anonymous:
        for method, path in http:
            response = anonymous.request(method, path)
            if path.startswith(OPEN_PREFIXES) or path == "/":
                assert response.status_code != 401, (method, path)
            elif path == "/metrics":  # open to a loopback client
                assert response.status_code in (200, 204), (method, path, response.status_code)
            else:
                assert response.status_code == 401, (method, path, response.status_code, response.text)
                assert response.json()["error"]["code"] == "unauthorized", (method, path)
    for path in sockets:
        refused = open_socket(f"{keyed.ws_url}{path}")
        assert refused.close_code == 4401, path
        assert isinstance(refused.messages[0], ErrorMessage) and refused.messages[0].code == "unauthorized"
    bad = httpx.get(f"{keyed.http_url}{JOBS}", headers=bearer("tk_not-a-key"))
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"


def _outward_address() -> str:
    """This machine's address on its outgoing interface (not loopback); skips without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # no packet is sent: this only picks the route
        except OSError:
            pytest.skip("no non-loopback interface")
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no non-loopback interface")
    return address


def test_metrics_need_admin_from_another_host(keyed: ServeProcess) -> None:
    port = keyed.http_url.rsplit(":", 1)[1]
    outside = f"http://{_outward_address()}:{port}/metrics"
    assert httpx.get(f"{keyed.http_url}/metrics").status_code == 200  # loopback: open
    assert httpx.get(outside).status_code == 401
    assert httpx.get(outside, headers=bearer(create_key(keyed, "metrics", "jobs:read"))).status_code == 403
    admin = httpx.get(outside, headers=bearer(create_key(keyed, "metrics", "admin")))
    assert admin.status_code == 200 and "tandem_" in admin.text
    assert httpx.get(f"http://{_outward_address()}:{port}/health/ready").status_code != 401


def test_cli_keys_create_list_revoke(keyed: ServeProcess) -> None:
    key = create_key(keyed, "cli-tenant", "jobs:read")
    with client(keyed, key) as http:
        assert http.get(JOBS).status_code == 200
        listed = tandem(keyed, "keys", "list")
        assert listed.returncode == 0
        row = next(line for line in listed.stdout.splitlines() if "\tcli-tenant\t" in line)
        assert key not in listed.stdout and "jobs:read" in row and row.endswith("active")
        revoked = tandem(keyed, "keys", "revoke", row.split("\t")[0])
        assert revoked.returncode == 0, revoked.stderr
        assert http.get(JOBS).status_code == 401
    assert tandem(keyed, "keys", "revoke", "key_missing").returncode == 1
    bad_scope = tandem(keyed, "keys", "create", "--tenant", "t", "--scopes", "jobs:read,everything")
    assert bad_scope.returncode != 0 and not bad_scope.stdout and "everything" in bad_scope.stderr


def test_tandem_stream_sends_the_api_key(keyed: ServeProcess, tmp_path) -> None:
    audio_file = tmp_path / "silence.wav"
    audio_file.write_bytes(wav_bytes(np.zeros(16000, np.float32)))
    stream = ("stream", str(audio_file), "--url", keyed.ws_url, "--speed", "0")
    refused = tandem(keyed, *stream)
    assert refused.returncode == 1 and "unauthorized" in refused.stdout + refused.stderr
    served = tandem(keyed, *stream, "--api-key", create_key(keyed, "cli-stream", "realtime"))
    assert served.returncode == 0, served.stdout + served.stderr


def test_scopes_are_enforced_on_http_and_websockets(keyed: ServeProcess) -> None:
    reader = create_key(keyed, "scoped", "jobs:read")
    with client(keyed, reader) as http:
        assert http.get(f"{STREAM}").status_code == 200
        for method, path in (("POST", JOBS), ("GET", "/v1/speakers"), ("GET", "/v1/keys"), ("POST", "/v1/tokens")):
            response = http.request(method, path)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    refused = open_socket(f"{keyed.ws_url}{STREAM}", bearer(reader))
    assert refused.close_code == 4403 and refused.messages[0].code == "forbidden"
    elevenlabs_style = httpx.get(f"{keyed.http_url}{JOBS}", headers={"xi-api-key": reader})
    assert elevenlabs_style.status_code == 200


def test_admin_manages_keys_over_http(keyed: ServeProcess) -> None:
    admin = create_key(keyed, "ops", "admin")
    with client(keyed, admin) as http:
        created = http.post("/v1/keys", json={"tenant": "web", "scopes": ["jobs:read"], "rate_limit_per_minute": 5})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["key"].startswith("tk_") and body["tenant"] == "web" and body["scopes"] == ["jobs:read"]
        listed = http.get("/v1/keys").json()["keys"]
        assert body["id"] in [item["id"] for item in listed] and body["key"] not in str(listed)
        assert httpx.get(f"{keyed.http_url}{JOBS}", headers=bearer(body["key"])).status_code == 200
        assert http.delete(f"/v1/keys/{body['id']}").status_code == 204
        assert httpx.get(f"{keyed.http_url}{JOBS}", headers=bearer(body["key"])).status_code == 401
        invalid = http.post("/v1/keys", json={"tenant": "web", "scopes": ["root"]})
        assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_parameters"
        assert http.get("/metrics").status_code == 200


def test_over_the_rate_limit_is_429_with_retry_after(keyed: ServeProcess) -> None:
    key = create_key(keyed, "busy", "jobs:read", rate_limit=3)
    with client(keyed, key) as http:
        statuses = [http.get(JOBS) for _ in range(4)]
    assert [response.status_code for response in statuses[:3]] == [200, 200, 200]
    limited = statuses[3]
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_websocket_tokens_are_single_use(keyed: ServeProcess) -> None:
    key = create_key(keyed, "browser", "realtime")
    issued = httpx.post(f"{keyed.http_url}/v1/tokens", headers=bearer(key))
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert issued.json()["expires_at"]
    url = f"{keyed.ws_url}{STREAM}?{urlencode({'token': token})}"
    first = open_socket(url)
    assert isinstance(first.messages[0], SessionBegin), first.messages
    again = open_socket(url)
    assert again.close_code == 4401 and again.messages[0].code == "unauthorized"
    by_query_key = open_socket(f"{keyed.ws_url}{STREAM}?{urlencode({'api_key': key})}")
    assert isinstance(by_query_key.messages[0], SessionBegin)
    assert httpx.get(f"{keyed.http_url}{JOBS}", params={"token": token}).status_code == 401


def test_a_tenant_holds_at_most_its_live_sessions(keyed: ServeProcess) -> None:
    first_key = create_key(keyed, "capped", "realtime")
    other_key = create_key(keyed, "uncapped-neighbour", "realtime")

    async def scenario() -> tuple[int | None, str, bool]:
        async with websockets.connect(f"{keyed.ws_url}{STREAM}", additional_headers=bearer(first_key)) as held:
            assert '"session.begin"' in await held.recv()
            second = await asyncio.to_thread(open_socket, f"{keyed.ws_url}{STREAM}", bearer(first_key))
            neighbour = await asyncio.to_thread(open_socket, f"{keyed.ws_url}{STREAM}", bearer(other_key))
            await held.send('{"type":"end"}')
            return second.close_code, second.messages[0].code, isinstance(neighbour.messages[0], SessionBegin)

    close_code, code, neighbour_served = asyncio.run(scenario())
    assert (close_code, code, neighbour_served) == (4503, "capacity", True)


def test_webhook_urls_must_be_public(keyed: ServeProcess) -> None:
    key = create_key(keyed, "hooks", "jobs:write")
    audio = wav_bytes(np.zeros(16000, np.float32))
    private_or_not_http = (
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://localhost/",
    )
    for url in private_or_not_http:
        response = httpx.post(
            f"{keyed.http_url}{JOBS}", headers=bearer(key), files={"file": ("a.wav", audio)}, data={"webhook_url": url}
        )
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["code"] == "invalid_webhook_url", url


def _tenants(server: ServeProcess, scopes: str = ALL_SCOPES) -> tuple[httpx.Client, httpx.Client]:
    suffix = free_port()
    return (
        client(server, create_key(server, f"owner-{suffix}", scopes)),
        client(server, create_key(server, f"other-{suffix}", scopes)),
    )


def _assert_not_found(other: httpx.Client, resource: str, *requests: str) -> None:
    """Each ``"METHOD [/suffix]"`` of ``resource`` is 404 for ``other`` (another tenant)."""
    for request in requests:
        method, _, suffix = request.partition(" ")
        response = other.request(method, f"{resource}{suffix}")
        assert response.status_code == 404, (request, resource, response.status_code, response.text)


def test_another_tenants_job_is_404_everywhere(keyed: ServeProcess) -> None:
    owner, other = _tenants(keyed)
    with owner, other:
        job_id = owner.post(JOBS, files={"file": ("a.wav", wav_bytes(np.zeros(16000, np.float32)))}).json()["id"]
        assert owner.get(f"{JOBS}/{job_id}").status_code == 200
        _assert_not_found(other, f"{JOBS}/{job_id}", "GET", "GET /export/json", "GET /events", "POST /cancel", "DELETE")
        assert job_id not in [job["id"] for job in other.get(JOBS).json()["jobs"]]
        assert other.get(JOBS).json()["total"] == 0
        assert job_id in [job["id"] for job in owner.get(JOBS).json()["jobs"]]


def test_another_tenants_session_is_404_everywhere(keyed: ServeProcess) -> None:
    owner, other = _tenants(keyed)
    with owner, other:
        query = urlencode({"store_audio": "true", "store_transcript": "true"})
        ended = open_socket(f"{keyed.ws_url}{STREAM}?{query}", {"Authorization": owner.headers["authorization"]})
        session_end = next(message for message in ended.messages if isinstance(message, SessionEnd))
        session_id = session_end.session_id
        assert owner.get(f"{STREAM}/{session_id}").status_code == 200
        under = f"{STREAM}/{session_id}"
        _assert_not_found(other, under, "GET", "GET /audio", "GET /transcript", "GET /enhancement", "POST /enhance")
        _assert_not_found(other, under, "DELETE")
        assert session_id not in [item["id"] for item in other.get(STREAM).json()["sessions"]]
        assert session_id in [item["id"] for item in owner.get(STREAM).json()["sessions"]]
        assert owner.get(f"{STREAM}/{session_id}/audio").status_code == 200


def test_another_tenants_speaker_is_404(keyed: ServeProcess, speech) -> None:
    owner, other = _tenants(keyed)
    with owner, other:
        sample = wav_bytes(speech.audio[: 16000 * 8])
        enrolled = owner.post("/v1/speakers", data={"name": "Oliver"}, files={"file": ("s.wav", sample)})
        assert enrolled.status_code == 201, enrolled.text
        speaker_id = enrolled.json()["id"]
        assert other.get(f"/v1/speakers/{speaker_id}").status_code == 404
        assert other.delete(f"/v1/speakers/{speaker_id}").status_code == 404
        assert other.get("/v1/speakers").json()["speakers"] == []
        assert [item["id"] for item in owner.get("/v1/speakers").json()["speakers"]] == [speaker_id]


def test_serve_refuses_auth_off_on_a_public_address(tmp_path) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TANDEM_")}
    environment.update(TANDEM_DATA_DIR=str(tmp_path), TANDEM_PORT=str(free_port()))
    refused = subprocess.run(
        [sys.executable, "-m", "clients.cli", "serve", "--host", "0.0.0.0"],
        env=environment,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "TANDEM_AUTH" in refused.stderr + refused.stdout
