"""Helpers of the auth tests: keys made with the real ``tandem keys`` command, keyed HTTP and WebSocket calls."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass

import httpx
import websockets

from core.protocol import ServerMessage, decode_server_message
from launchers.serve_process import PROJECT_ROOT, ServeProcess


def tandem(server: ServeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``tandem`` command against ``server``'s database."""
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", *args],
        env=server.environment,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def create_key(server: ServeProcess, tenant: str, scopes: str, rate_limit: int | None = None) -> str:
    """``tandem keys create``: the key, which must be stdout's only line."""
    args = ["keys", "create", "--tenant", tenant, "--scopes", scopes]
    if rate_limit is not None:
        args += ["--rate-limit", str(rate_limit)]
    created = tandem(server, *args)
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tk_"), created.stdout
    return lines[0]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def client(server: ServeProcess, key: str | None) -> httpx.Client:
    return httpx.Client(base_url=server.http_url, headers=bearer(key) if key else {}, timeout=60)


@dataclass
class SocketOutcome:
    messages: list[ServerMessage]
    close_code: int | None


async def _open_socket(url: str, headers: dict[str, str] | None, send_end: bool) -> SocketOutcome:
    messages: list[ServerMessage] = []
    async with websockets.connect(url, additional_headers=headers, open_timeout=30) as socket:
        try:
            first = await asyncio.wait_for(socket.recv(), timeout=30)
            messages.append(decode_server_message(first))
            if send_end:
                await socket.send('{"type":"end"}')
            async for raw in socket:
                messages.append(decode_server_message(raw))
        except websockets.ConnectionClosed:
            pass
        return SocketOutcome(messages, socket.close_code)


def open_socket(url: str, headers: dict[str, str] | None = None, *, send_end: bool = True) -> SocketOutcome:
    """Connect, read the first message, send ``end``, read until the server closes."""
    return asyncio.run(_open_socket(url, headers, send_end))
