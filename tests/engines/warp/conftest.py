"""Warp renderer fixtures: real portraits prepared once per session, renderers built once."""

from __future__ import annotations

import pytest

from engines.avatar.bundle import AvatarBundle
from engines.avatar.store import AvatarStore
from engines.warp import AvatarRenderer
from tests import fixtures_images as fx


@pytest.fixture(scope="session")
def warp_store(tmp_path_factory: pytest.TempPathFactory) -> AvatarStore:
    """Default avatar (astronaut, teeth showing) and Grace Hopper (closed mouth, glasses)."""
    store = AvatarStore(tmp_path_factory.mktemp("warp") / "avatars")
    store.ensure_default()
    store.add(fx.grace_hopper_jpeg(), name="Grace Hopper")
    return store


@pytest.fixture(scope="session")
def astronaut(warp_store: AvatarStore) -> AvatarBundle:
    return warp_store.ensure_default()


@pytest.fixture(scope="session")
def hopper(warp_store: AvatarStore) -> AvatarBundle:
    return warp_store.add(fx.grace_hopper_jpeg())


@pytest.fixture(scope="session")
def astronaut_renderer(astronaut: AvatarBundle) -> AvatarRenderer:
    return AvatarRenderer.from_bundle(astronaut, size=256)


@pytest.fixture(scope="session")
def hopper_renderer(hopper: AvatarBundle) -> AvatarRenderer:
    return AvatarRenderer.from_bundle(hopper, size=256)


@pytest.fixture(params=["astronaut", "hopper"])
def any_renderer(request: pytest.FixtureRequest) -> AvatarRenderer:
    return request.getfixturevalue(f"{request.param}_renderer")
