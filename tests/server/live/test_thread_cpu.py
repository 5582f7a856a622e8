"""The per-thread CPU gauge: roles named without per-session suffixes, a busy thread's seconds
counted under its own role, unnamed native threads under ``native``, and a gauge on /metrics."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from xactor.bench.session_cpu import thread_cpu_from_metrics as parse_thread_cpu
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.thread_cpu import NATIVE, ThreadCpuCollector, _cpu_seconds, role, thread_cpu_seconds

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/task is Linux's")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("render", "render"),
        ("MainThread", "MainThread"),
        ("encode-c538f095419e4903_0", "encode"),
        ("uvloop_1", "uvloop"),
        ("audio-decoder", "audio-decoder"),
        ("AnyIO worker thread", "AnyIO worker thread"),
        ("ThreadPoolExecutor-0_3", "ThreadPoolExecutor-0"),
    ],
)
def test_role_drops_session_and_pool_suffixes(name: str, expected: str) -> None:
    assert role(name) == expected


def test_stat_line_with_spaces_and_parentheses_in_the_name() -> None:
    # fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    line = "4242 (weird ) name) S 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 1 0"
    assert _cpu_seconds(line, 100) == pytest.approx(3.0)


@linux_only
def test_a_busy_thread_is_counted_under_its_role() -> None:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(i * i for i in range(2000))

    worker = threading.Thread(target=spin, name="spinner-0123456789abcdef_0", daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 5.0
        while thread_cpu_seconds().get("spinner", 0.0) < 0.05 and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = thread_cpu_seconds()
    finally:
        stop.set()
        worker.join()
    assert busy.get("spinner", 0.0) >= 0.05  # its own role, suffixes gone
    assert "spinner-0123456789abcdef_0" not in busy
    assert "MainThread" in busy


def test_threads_python_did_not_start_are_native(tmp_path: Path) -> None:
    """A task id that no Python thread has is summed as ``native`` (a fake /proc/self/task)."""
    mine = threading.get_native_id()
    for tid, ticks in ((mine, (100, 0)), (999_999_991, (30, 10)), (999_999_992, (5, 5))):
        task = tmp_path / str(tid)
        task.mkdir()
        (task / "stat").write_text(f"{tid} (python) S 1 1 1 0 -1 0 0 0 0 0 {ticks[0]} {ticks[1]} 0 0")
    hz = os.sysconf("SC_CLK_TCK")  # the fake counters are in ticks of this host's clock
    out = thread_cpu_seconds(tmp_path)
    assert out[NATIVE] == pytest.approx(50 / hz)
    assert out[role(threading.current_thread().name)] == pytest.approx(100 / hz)


def test_no_proc_reports_nothing(tmp_path: Path) -> None:
    assert thread_cpu_seconds(tmp_path / "absent") == {}
    registry = CollectorRegistry()
    ThreadCpuCollector(registry, tasks=tmp_path / "absent")
    assert "xactor_thread_cpu_seconds{" not in generate_latest(registry).decode()


@linux_only
def test_metrics_carry_the_gauge_and_the_bench_reads_it() -> None:
    text = generate_latest(LiveMetrics().registry).decode()
    parsed = parse_thread_cpu(text)
    assert "MainThread" in parsed and parsed["MainThread"] > 0.0
    assert parse_thread_cpu("# nothing here\n") == {}
