"""Standard Webhooks signatures (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

from core.settings import Settings


def webhook_secret(settings: Settings) -> str:
    """The ``whsec_...`` secret: from the settings, else generated once and kept in the data dir."""
    if settings.webhook_secret:
        return settings.webhook_secret
    path = settings.data_dir / "webhook_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


def signed_headers(secret: str, message_id: str, body: str) -> dict[str, str]:
    """The headers a receiver verifies ``body`` with (``Webhook(secret).verify(body, headers)``)."""
    timestamp = datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
        "content-type": "application/json",
    }
