"""Avatar fixtures; the prepared store of real portraits is in tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from xactor.engines.avatar.store import AvatarStore


@pytest.fixture
def store(tmp_path: Path) -> AvatarStore:
    """An empty store of its own (no default avatar unless asked for)."""
    return AvatarStore(tmp_path / "avatars", with_default=False)
