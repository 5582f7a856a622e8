"""A real ``xactor serve`` for the integration tests, from the server's own environment.

The integrations run in their own environment (agent frameworks need numpy 2 and protobuf 5+;
the server pins numpy < 2 for MediaPipe), so the server is a subprocess: ``XACTOR_BIN``, or the
repository's ``.venv/bin/xactor``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def xactor_url() -> Iterator[str]:
    exe = os.environ.get("XACTOR_BIN", str(REPO / ".venv" / "bin" / "xactor"))
    if not Path(exe).is_file():
        pytest.skip(f"no xactor server to test against ({exe}); run `make install` first")
    port = _free_port()
    data = tempfile.mkdtemp(prefix="xactor-integrations-")
    env = {
        **os.environ,
        "XACTOR_DATA_DIR": data,
        "XACTOR_MOTION_SOURCE": "heuristic",  # cheap and deterministic: the plumbing is under test
        "XACTOR_PROCEDURAL_AVATARS": "0",
        "XACTOR_MAX_SESSIONS": "4",
        "XACTOR_CACHE_DIR": str(Path(data) / "cache"),
    }
    process = subprocess.Popen(
        [exe, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:  # up, and done measuring its capacity (that measurement takes the CPU for a moment)
                with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                    if r.status == 200 and json.load(r).get("capacity"):
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"xactor serve did not start: {process.stderr.read()[-2000:]!r}"
                    ) from None
                time.sleep(0.3)
        yield f"ws://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def speech() -> tuple[bytes, int]:
    """About 2 s of espeak-ng speech: (PCM16 mono bytes, rate)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(
            [exe, "-w", str(path), "--", "Papa bought a big blue boat, and Bob made a map."], check=True
        )
        with wave.open(str(path)) as w:
            rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    x = np.frombuffer(pcm, np.int16).astype(np.float32)
    x *= 0.5 * 32767 / max(float(np.abs(x).max()), 1.0)
    return x.astype(np.int16).tobytes(), rate
