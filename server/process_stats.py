"""What the server process holds right now: resident memory, threads, descriptors, asyncio tasks.

Reported by /health so that leaks show from outside (the churn benchmark opens and closes
hundreds of sessions and reads these numbers between rounds).
"""

from __future__ import annotations

import asyncio
import os
import resource
import threading
from pathlib import Path


def _proc_status_field(name: str) -> int | None:
    """An integer field of /proc/self/status (Linux); None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int:
    """Resident set size now (Linux), else the peak (other systems)."""
    kib = _proc_status_field("VmRSS")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib * 1024


def open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def process_stats() -> dict[str, int | float | None]:
    """RSS (MB), OS threads, Python threads, open descriptors and asyncio tasks (call on the loop)."""
    try:
        tasks: int | None = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop
        tasks = None
    return {
        "rss_mb": round(rss_bytes() / 1e6, 1),
        "os_threads": _proc_status_field("Threads"),
        "python_threads": threading.active_count(),
        "fds": open_fds(),
        "asyncio_tasks": tasks,
    }
