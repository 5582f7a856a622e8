"""The copy-paste examples of the README and docs/api.md (`examples/`) run against a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from xactor.bench.latency import local_server
from xactor.bench.speech import have_espeak, tts, write_wav

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_speak_over_websocket_example(tmp_path: Path) -> None:
    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path / "hello.wav"
    speech = tts("Hello, I am a portrait that talks.")
    write_wav(wav, speech, 16000)
    out = tmp_path / "out.mp4"
    data = tmp_path / "data"
    data.mkdir()
    async with local_server(data, env={"XACTOR_MOTION_SOURCE": "heuristic"}) as url:
        script = ROOT / "examples" / "speak_over_websocket.py"
        cmd = [sys.executable, str(script), str(wav), str(out), "--url", url.replace("http", "ws")]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(out)) as container:
        audio = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    assert frames >= speech.size / 16000 * 25 - 2  # the whole utterance came back
    assert np.abs(audio).max() > 0.1
