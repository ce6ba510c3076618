"""Prometheus metrics of the control plane (served at ``/metrics``)."""

from prometheus_client import Counter, Gauge

SESSIONS_TOTAL = Counter("tandem_sessions_total", "Live sessions accepted")
ACTIVE_SESSIONS = Gauge("tandem_active_sessions", "Live sessions currently connected")
