"""What a benchmark's result records about its run: when, on what machine, under what load."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime


def run_facts() -> dict[str, object]:
    """``date`` (UTC), ``machine`` (architecture and cores) and ``load_average_1m`` at the end of the run."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
