"""Warp renderer fixtures: real portraits prepared once per session, renderers built once."""

from __future__ import annotations

import pytest

from xactor.engines.avatar.bundle import AvatarBundle
from xactor.engines.warp import AvatarRenderer


@pytest.fixture(scope="session")
def astronaut(astronaut_bundle: AvatarBundle) -> AvatarBundle:
    """The default avatar (teeth showing)."""
    return astronaut_bundle


@pytest.fixture(scope="session")
def hopper(grace: AvatarBundle) -> AvatarBundle:
    """Grace Hopper (closed mouth, glasses)."""
    return grace


@pytest.fixture(scope="session")
def astronaut_renderer(astronaut: AvatarBundle) -> AvatarRenderer:
    return AvatarRenderer.from_bundle(astronaut, size=256)


@pytest.fixture(scope="session")
def hopper_renderer(hopper: AvatarBundle) -> AvatarRenderer:
    return AvatarRenderer.from_bundle(hopper, size=256)


@pytest.fixture(params=["astronaut", "hopper"])
def any_renderer(request: pytest.FixtureRequest) -> AvatarRenderer:
    return request.getfixturevalue(f"{request.param}_renderer")
