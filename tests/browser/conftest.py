from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def chromium_and_espeak() -> None:
    """The browser tests drive headless Chromium and speak with espeak-ng: skip, saying which is
    missing, where either is."""
    from tests.browser.cdp import chromium_path
    from xactor.bench.speech import have_espeak

    if chromium_path() is None:
        pytest.skip("chromium is not installed (/usr/bin/chromium)")
    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
