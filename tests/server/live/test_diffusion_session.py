"""The diffusion renderer live: procedural avatars are prepared at start-up and listed with the
renderers they take; a session on one streams through the diffusion renderer (tiny random weights
here), and asking for it on a photo avatar is a clear 422."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.server.live.conftest import serving
from tests.server.live.test_robustness import _offer_sdp
from xactor.bench.live_client import LiveClient, SignalTrack
from xactor.engines.diffusion.model import RenderDenoiser, RenderModelConfig
from xactor.engines.diffusion.weights import save_render_weights
from xactor.server.app import create_app
from xactor.server.settings import Settings

pytestmark = pytest.mark.anyio


def _weights(folder: Path) -> Path:
    torch_model = RenderDenoiser(RenderModelConfig(widths=(16, 32, 32)))
    save_render_weights(folder, "render_student", torch_model, 1, {"size": 128})
    return folder


async def _procedural(http) -> dict:
    for _ in range(300):
        avatars = (await http.get("/avatars")).json()["avatars"]
        found = [a for a in avatars if a["procedural_seed"] is not None]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError("no procedural avatar was prepared")


async def test_a_session_on_a_procedural_avatar_runs_the_diffusion_renderer(
    data_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=data_dir,
        motion_source="heuristic",
        weights_dir=_weights(tmp_path / "w"),
        procedural_avatars=1,
    )
    async with serving(create_app(settings)) as http:
        avatar = await _procedural(http)
        assert avatar["renderers"] == ["warp", "diffusion"] and avatar["procedural_seed"] == 2_000_000
        photo = next(a for a in (await http.get("/avatars")).json()["avatars"] if a["is_default"])
        assert photo["renderers"] == ["warp"] and photo["procedural_seed"] is None

        client = LiveClient(http=http, analyse=lambda image: float(np.mean(image)), keep_images=False)
        signal = (0.2 * np.sin(np.arange(48000 * 2) / 20.0)).astype(np.float32)
        answer = await client.start(
            SignalTrack(signal, loop_signal=True), avatar_id=avatar["id"], options={"renderer": "diffusion"}
        )
        assert answer["options"]["renderer"] == "diffusion"
        try:
            await client.wait_frames(8, timeout=20.0)
            stats = await client.stats()
        finally:
            await client.stop()
        assert stats["errors"]["render"] == 0 and stats["frames_sent"] >= 8 and "render" in stats["stages_ms"]

        sdp = await _offer_sdp()
        body = {"sdp": sdp, "type": "offer", "avatar_id": photo["id"], "options": {"renderer": "diffusion"}}
        r = await http.post("/sessions", json=body)
        assert r.status_code == 422 and r.json()["detail"]["code"] == "invalid_option"
        assert "use the warp renderer" in r.json()["detail"]["message"]
        assert (await http.get("/sessions")).json() == []
