"""Names of the processes that own work (workers own jobs, control planes own live sessions).

A name is ``host:pid:token`` with a random token per process, so a restarted container (PID 1
again, same hostname) never takes its predecessor's name. Whether the named process still runs is
told by its heartbeat in Redis (each owner keeps its own); on the process's own host a dead PID
tells it at once, without waiting for the heartbeat to expire.
"""

from __future__ import annotations

import os
import socket
import uuid


def new_process_name() -> str:
    """``host:pid:token`` for the calling process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def gone_from_this_host(name: str) -> bool:
    """Whether ``name`` is a process of this host whose PID no longer exists (``False`` when unsure)."""
    host, pid = [*name.rsplit(":", 2), ""][:2]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
