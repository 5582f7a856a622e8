"""Fixtures shared across the suite: real portraits prepared once per test session
(MediaPipe graphs and avatar bundles are the expensive part of many tests)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests import fixtures_images as fx
from xactor.engines.avatar.bundle import AvatarBundle
from xactor.engines.avatar.store import AvatarStore


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``ray`` run after all others, in their collected order.

    Ray's driver leaves gRPC threads in the process after ``ray.shutdown()`` (timers, pollers),
    and they call libc's ``rand()``: the process-global generator that flite's and espeak-ng's
    noise is seeded from per utterance. After them the same utterance came out as two different
    byte strings in 30 repeats, and the corpus determinism tests failed at random."""
    items.sort(key=lambda item: item.get_closest_marker("ray") is not None)  # stable: order kept


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exported graphs (the generator's ONNX step) go to a per-run cache, not the user's."""
    os.environ["XACTOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("xactor-cache"))


@pytest.fixture(scope="session", autouse=True)
def _no_background_procedural_avatars() -> None:
    """Servers under test prepare no procedural avatars unless a test asks (``procedural_avatars``
    or ``XACTOR_PROCEDURAL_AVATARS``): written in the background after start-up, they would race
    tests that compare the avatar store before and after a request."""
    os.environ["XACTOR_PROCEDURAL_AVATARS"] = "0"


@pytest.fixture(scope="session")
def prepared_store(tmp_path_factory: pytest.TempPathFactory) -> AvatarStore:
    """Default avatar (astronaut, teeth showing) and Grace Hopper (closed mouth, glasses);
    tests must not delete from it."""
    store = AvatarStore(tmp_path_factory.mktemp("prepared") / "avatars")
    store.ensure_default()
    store.add(fx.grace_hopper_jpeg(), name="Grace Hopper")
    return store


@pytest.fixture(scope="session")
def astronaut_bundle(prepared_store: AvatarStore) -> AvatarBundle:
    return prepared_store.ensure_default()


@pytest.fixture(scope="session")
def grace(prepared_store: AvatarStore) -> AvatarBundle:
    return prepared_store.add(fx.grace_hopper_jpeg())


@pytest.fixture(scope="session")
def avatar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the default avatar prepared once for the whole session (copy it to write)."""
    root = tmp_path_factory.mktemp("data-with-default")
    AvatarStore(root / "avatars").ensure_default()
    return root


@pytest.fixture
def data_dir(avatar_root: Path, tmp_path: Path) -> Path:
    """A fresh, writable data dir holding the prepared default avatar."""
    target = tmp_path / "data"
    shutil.copytree(avatar_root, target)
    return target
