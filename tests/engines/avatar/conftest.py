"""Shared avatar fixtures: one prepared store per test session (MediaPipe graphs are built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.avatar.bundle import AvatarBundle
from engines.avatar.store import AvatarStore
from tests import fixtures_images as fx


@pytest.fixture(scope="session")
def prepared_store(tmp_path_factory: pytest.TempPathFactory) -> AvatarStore:
    """A store holding the default (astronaut) and Grace Hopper; tests must not delete from it."""
    store = AvatarStore(tmp_path_factory.mktemp("prepared") / "avatars")
    store.ensure_default()
    store.add(fx.grace_hopper_jpeg(), name="Grace Hopper")
    return store


@pytest.fixture(scope="session")
def grace(prepared_store: AvatarStore) -> AvatarBundle:
    return prepared_store.add(fx.grace_hopper_jpeg())


@pytest.fixture(scope="session")
def astronaut_bundle(prepared_store: AvatarStore) -> AvatarBundle:
    return prepared_store.ensure_default()


@pytest.fixture
def store(tmp_path: Path) -> AvatarStore:
    """An empty store of its own (no default avatar unless asked for)."""
    return AvatarStore(tmp_path / "avatars", with_default=False)
