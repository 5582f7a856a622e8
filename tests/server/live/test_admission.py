"""One admission for both kinds of session: ``async with manager.admit() as slot`` (no HTTP).

The slot is taken before any await past the capacity measurement, refused with
:class:`CapacityError` when none is free, handed over to the session ``open``/``open_stream``
register, and given back on every other way out of the block; the routers never reserve or
release by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.server.live.conftest import BAR
from xactor.engines.render.pool import RendererPool
from xactor.server.live.capacity import Capacity
from xactor.server.live.manager import CapacityError, SessionManager, Slot
from xactor.server.live.metrics import LiveMetrics
from xactor.server.settings import Settings

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _manager(tmp_path: Path, **overrides: object) -> SessionManager:
    overrides.setdefault("motion_source", "heuristic")
    settings = Settings(data_dir=tmp_path, renderer=BAR.name, **overrides)  # type: ignore[arg-type]
    return SessionManager(settings, LiveMetrics(), RendererPool(max_bytes=64_000_000))


async def test_admit_takes_a_slot_and_gives_it_back_on_every_way_out(tmp_path: Path) -> None:
    manager = _manager(tmp_path, max_sessions=1, retry_after_s=3)
    async with manager.admit() as slot:
        assert isinstance(slot, Slot) and slot.held and manager._pending == 1
        with pytest.raises(CapacityError) as err:  # the one slot is taken
            async with manager.admit():
                pass
        assert err.value.retry_after == 3
    assert not slot.held and manager._pending == 0
    for failure in (LookupError("no avatar"), KeyboardInterrupt(), ValueError("bad option")):
        with pytest.raises(type(failure)):
            async with manager.admit():
                raise failure
        assert manager._pending == 0  # given back, whatever it was
    async with manager.admit():  # and free again
        pass


async def test_a_slot_is_given_back_once(tmp_path: Path) -> None:
    manager = _manager(tmp_path, max_sessions=2)
    async with manager.admit() as first:
        async with manager.admit() as second:
            first.release()  # handed over early (open does it once the session is registered)
            first.release()  # again: nothing more
            assert manager._pending == 1 and second.held
        assert manager._pending == 0


async def test_admit_waits_for_the_measurement(tmp_path: Path) -> None:
    import asyncio

    manager = _manager(tmp_path)  # no max_sessions: the limit is the measured capacity
    entered = asyncio.Event()

    async def admitted() -> None:
        async with manager.admit():
            entered.set()

    task = asyncio.ensure_future(admitted())
    await asyncio.sleep(0.05)
    assert not entered.is_set()  # waiting for the measurement
    manager.set_capacity(Capacity(2, 1.0, 2.0, 3.0, 6.0, 0.75, 0.1))
    await asyncio.wait_for(task, 5)
    assert entered.is_set() and manager._pending == 0


@pytest.mark.parametrize("router", ["server/routers/sessions.py", "server/routers/stream.py"])
def test_routers_admit_through_the_manager_only(router: str) -> None:
    source = (ROOT / router).read_text()
    assert "manager.admit()" in source
    assert not re.search(r"\.(reserve|release|wait_measured)\(", source)
