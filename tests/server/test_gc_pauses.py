"""Garbage collections are timed into ``/metrics``, and the objects start-up loaded are frozen out
of later collections (a full pass over them stopped every session for 130-390 ms)."""

from __future__ import annotations

import gc
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.live.conftest import make_app
from xactor.server.gc_pauses import GcPauses
from xactor.server.live.metrics import LiveMetrics


def _count(text: str, generation: int) -> float:
    match = re.search(rf'^xactor_gc_pause_seconds_count{{generation="{generation}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def unfrozen() -> None:
    """gc.freeze() is process-wide: give the objects back to the collector after the test."""
    yield
    gc.unfreeze()


def test_start_up_freezes_and_collections_are_timed(tmp_path: Path, unfrozen: None) -> None:
    gc.unfreeze()
    app = make_app(tmp_path / "data", gc_freeze=True)
    with TestClient(app) as client:
        end = time.monotonic() + 120
        while app.state.background and time.monotonic() < end:  # the capacity measurement
            time.sleep(0.1)
        assert not app.state.background, "start-up did not finish"
        assert gc.get_freeze_count() > 10_000  # torch, the models and the avatar caches
        before = _count(client.get("/metrics").text, 2)
        gc.collect()
        assert _count(client.get("/metrics").text, 2) == before + 1


def test_freezing_is_a_setting(tmp_path: Path, unfrozen: None) -> None:
    gc.unfreeze()
    app = make_app(tmp_path / "data", gc_freeze=False)
    with TestClient(app):
        end = time.monotonic() + 120
        while app.state.background and time.monotonic() < end:
            time.sleep(0.1)
        assert gc.get_freeze_count() == 0


def test_a_long_collection_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    pauses = GcPauses(LiveMetrics(), warn_s=0.0)
    pauses.start()
    try:
        gc.collect()
    finally:
        pauses.stop()
    assert pauses.longest_s > 0
    assert any("garbage collection of generation 2 took" in r.getMessage() for r in caplog.records)
