"""Loopback addresses: where ``TANDEM_AUTH=off`` may listen, and the clients ``/metrics`` answers without a key."""

from __future__ import annotations

import ipaddress

from core.settings import AuthMode, Settings


class UnsafeListenAddress(RuntimeError):
    """``TANDEM_AUTH=off`` on an address other machines can reach."""


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` or ``localhost``."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen_address(settings: Settings) -> None:
    """Raise :class:`UnsafeListenAddress` (naming ``TANDEM_AUTH``) when keys are off on a non-loopback host."""
    if settings.auth is AuthMode.OFF and not is_loopback(settings.host):
        raise UnsafeListenAddress(
            f"TANDEM_AUTH=off is allowed only on a loopback address, not on {settings.host!r}: anyone who can "
            "reach it could read every transcript. Set TANDEM_AUTH=keys (and create a key with "
            "`tandem keys create`), or listen on 127.0.0.1."
        )
