"""Webhook targets that cannot be turned against the deployment: http(s) to public addresses only.

Checked when a job is submitted and again, after a fresh DNS resolution, when the webhook is
delivered: the delivery then connects to the very address that was checked (so a name that
re-resolves to a private address in between gets nowhere).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple
from urllib.parse import urlsplit


class InvalidWebhookUrl(ValueError):
    """The URL is not http(s), does not resolve, or reaches a non-public address."""


class WebhookTarget(NamedTuple):
    """A checked webhook URL and the address its host resolved to."""

    url: str
    host: str
    address: str


def resolve_webhook_target(url: str, *, allow_private: bool) -> WebhookTarget:
    """Check ``url`` and resolve its host; raises :class:`InvalidWebhookUrl` with a user-facing reason.

    Every address the host resolves to must be public (globally routable) unless ``allow_private``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookUrl("webhook_url must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise InvalidWebhookUrl("webhook_url must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        raise InvalidWebhookUrl(f"webhook_url host {parts.hostname!r} does not resolve") from exc
    addresses = [_address(info[4][0]) for info in infos]
    if not allow_private:
        private = sorted({str(address) for address in addresses if not address.is_global})
        if private:
            raise InvalidWebhookUrl(
                f"webhook_url must reach a public address; {parts.hostname} is {', '.join(private)}"
            )
    return WebhookTarget(url, parts.hostname, str(addresses[0]))


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
