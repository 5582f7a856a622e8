"""CPU seconds of the server's threads by role, read from Linux's ``/proc/self/task``.

Why: ``process_cpu_seconds_total`` says what a session costs, not where it goes, and a sampling
profiler cannot say it either: py-spy counts a thread that waits for the GIL, or a native thread
pool that spins at a barrier, as busy or not at all. The kernel's per-thread counters are exact.

Each Python thread is named by its role (``render``, ``MainThread``, ``encode``, ``uvloop``,
``audio-decoder``...): per-session suffixes (a session id, a pool index) are dropped so the label
set stays small however many sessions come and go. Threads Python did not start (ONNX Runtime's and
OpenMP's pools, libx264's, aiortc's codecs' own) are summed as ``native``.

The figures are the seconds of the threads alive *now*, so a role's value falls when one of its
threads exits: read differences over a window in which the sessions stay (``xactor bench cpu``
does), or ``process_cpu_seconds_total`` for a monotonic total. Elsewhere than Linux it reports
nothing.
"""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

NATIVE = "native"
TASKS = Path("/proc/self/task")
# A session id (hex, 8+ digits) after a dash, and a pool's "_<n>" index: dropped from names.
_SUFFIXES = re.compile(r"-[0-9a-f]{8,}|_\d+$")


def role(name: str) -> str:
    """A thread's name without the parts that differ between sessions and pool members."""
    return _SUFFIXES.sub("", name) or name


def _ticks_per_second() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 100


def _cpu_seconds(stat: str, hz: int) -> float:
    """utime + stime of one ``/proc/<pid>/task/<tid>/stat`` line (fields 14 and 15; the name in
    field 2 may hold spaces and parentheses, so count from its closing one)."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / hz


def thread_cpu_seconds(tasks: Path = TASKS) -> dict[str, float]:
    """CPU seconds of this process's live threads by role (empty without ``/proc``)."""
    if not tasks.is_dir():
        return {}
    hz = _ticks_per_second()
    names = {t.native_id: role(t.name) for t in threading.enumerate() if t.native_id is not None}
    totals: dict[str, float] = defaultdict(float)
    for task in tasks.iterdir():
        try:
            seconds = _cpu_seconds((task / "stat").read_text(), hz)
        except (OSError, ValueError, IndexError):  # the thread exited while we read
            continue
        totals[names.get(int(task.name), NATIVE)] += seconds
    return dict(totals)


class ThreadCpuCollector(Collector):
    """``xactor_thread_cpu_seconds{thread=role}``, read at every scrape."""

    def __init__(self, registry: CollectorRegistry | None = None, tasks: Path = TASKS) -> None:
        self._tasks = tasks
        if registry is not None:
            registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "xactor_thread_cpu_seconds",
            "CPU seconds of the live threads of each role (Linux; a role's value falls when one of "
            "its threads exits: use differences over a window).",
            labels=["thread"],
        )
        for name, seconds in sorted(thread_cpu_seconds(self._tasks).items()):
            family.add_metric([name], seconds)
        yield family
