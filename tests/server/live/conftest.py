"""Fixtures for the live-path tests: an app with a test-only bar renderer, speech, an aiortc client.

``BarRenderer`` draws the motion's jawOpen as the height of a white bar on grey: it lets pipeline
tests see the motion that reached the picture without depending on the real renderer (the browser
test and the latency probe use the real one). It lives here, never in product code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from xactor.bench.speech import SpeechTimeline, have_espeak, speech_with_onsets
from xactor.engines.motion_space import INDEX
from xactor.engines.render.base import Renderer, RendererSpec, register_renderer
from xactor.server.app import create_app
from xactor.server.settings import Settings

JAW = INDEX["jawOpen"]


class BarRenderer(Renderer):
    """Test double: frame = grey square, white bar from the bottom, height = jawOpen × size."""

    def __init__(self, size: int) -> None:
        self._size = size
        self.calls = 0

    @property
    def size(self) -> int:
        return self._size

    def render(self, motion: np.ndarray) -> np.ndarray:
        self.calls += 1
        b = motion.shape[0]
        out = np.full((b, self.size, self.size, 3), 96, dtype=np.uint8)  # [B, S, S, 3]
        for i in range(b):
            h = round(float(np.clip(motion[i, JAW], 0, 1)) * self.size)
            if h:
                out[i, self.size - h :, self.size // 4 : 3 * self.size // 4] = 255
        return out


BAR = register_renderer(
    RendererSpec("test-bar", "test double: a bar as high as jawOpen", (), lambda b, o: BarRenderer(o.size))
)


def bar_height(image: np.ndarray) -> float:
    """jawOpen as read back from a BarRenderer picture (after the codec): white fraction of the column."""
    s = image.shape[0]
    column = image[:, s // 2, :].mean(axis=1)  # [S]
    return float((column > 176).mean())


def make_app(data_dir: Path, **overrides: object):
    """An app on the bar renderer and, unless told otherwise, the heuristic motion source: the
    plumbing tests read the jaw off the picture, so they pin the cheap, deterministic source that
    does not depend on the shipped weights (test_generator_session covers the default)."""
    overrides.setdefault("renderer", BAR.name)
    overrides.setdefault("motion_source", "heuristic")
    # gc.freeze() is process-wide: in a test process it would make every earlier test's live objects
    # permanent. Servers freeze (the default); tests/server/test_gc_pauses.py tests it.
    overrides.setdefault("gc_freeze", False)
    settings = Settings(data_dir=data_dir, **overrides)  # type: ignore[arg-type]
    return create_app(settings)


@asynccontextmanager
async def serving(app) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an HTTP client that calls it in this event loop."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
    ):
        yield http


@pytest.fixture
async def live(data_dir: Path) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    """(app, http client) sharing the test's event loop, lifespan run around the test."""
    app = make_app(data_dir, session_idle_timeout_s=3.0)
    async with serving(app) as http:
        yield app, http


@pytest.fixture(scope="session")
def speech() -> SpeechTimeline:
    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    return speech_with_onsets(8.0, period_s=3.0, lead_s=1.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
