"""Diffusion renderer speed on this machine: ms per frame by sampling steps, batch and size,
beside the warp renderer it refines (the baseline), on a procedural avatar.

Rows:
* ``diffusion`` — the live renderer's whole path (warp prior at the weights' size, landmark maps,
  the denoiser's steps, upsampling to the session size), shipped or given weights;
* ``denoiser`` — one denoiser step alone at a working size (random weights of the same
  architecture: its cost does not depend on the values), to show what a larger working size costs;
* ``warp`` — the warp renderer alone at the session size;
* ``avatars one by one`` / ``avatars together`` — one frame each of ``batch`` different avatars,
  rendered avatar by avatar (each a batch of one) or gathered into one denoiser batch
  (:meth:`~engines.diffusion.renderer.DiffusionRenderer.render_together`, what the live render
  stage does), side by side in the same run.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xactor.bench.render import machine, time_calls
from xactor.engines.avatar.store import AvatarStore
from xactor.engines.diffusion.model import RenderDenoiser
from xactor.engines.diffusion.renderer import Denoiser, DiffusionRenderer, shared_denoiser, weights_folder
from xactor.engines.diffusion.weights import STUDENT, load_render_weights
from xactor.engines.offline.demo import demo_motion
from xactor.engines.procedural.avatar import TEST_SEED_BASE, add_procedural
from xactor.engines.render.base import RendererOptions, create_renderer


@dataclass(frozen=True)
class DiffusionBenchConfig:
    weights_dir: Path | None = None
    steps: tuple[int, ...] = (1, 2, 4, 8)
    batches: tuple[int, ...] = (1, 4)
    sizes: tuple[int, ...] = (256, 512)
    work_sizes: tuple[int, ...] = (128, 256)
    avatars: tuple[int, ...] = (2, 4)  # different avatars rendered one frame each, alone and together
    repeats: int = 20


def run(cfg: DiffusionBenchConfig) -> dict[str, Any]:
    motion = demo_motion(4.0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = AvatarStore(Path(tmp) / "avatars", with_default=False)
        bundle, _ = add_procedural(store, TEST_SEED_BASE)
        seed = TEST_SEED_BASE
        options = RendererOptions(weights_dir=cfg.weights_dir)
        denoiser = shared_denoiser(weights_folder(options), "onnxruntime")  # what `auto` runs live
        model, work = denoiser.model, denoiser.work_size
        meta = load_render_weights(weights_folder(options), STUDENT)[2]
        for size in cfg.sizes:
            warp = create_renderer("warp", bundle, replace(options, size=size))
            for batch in cfg.batches:
                m = motion[:batch]
                rows.append(
                    {"stage": "warp", "size": size, "batch": batch, "steps": 0,
                     "ms_per_frame": time_calls(warp.render, [m], cfg.repeats)}
                )  # fmt: skip
                for steps in cfg.steps:
                    renderer = DiffusionRenderer(seed, replace(denoiser, steps=steps), size)
                    ms = time_calls(renderer.render, [m], cfg.repeats)
                    rows.append(
                        {
                            "stage": "diffusion",
                            "size": size,
                            "batch": batch,
                            "steps": steps,
                            "ms_per_frame": ms,
                        }
                    )
        rows += across_avatars(cfg, store, denoiser, motion)
        for work_size in cfg.work_sizes:
            net = RenderDenoiser(model.cfg).eval()
            for batch in cfg.batches:
                x = torch.zeros(batch, 3, work_size, work_size)
                ref = net.encode_reference(x)

                @torch.inference_mode()
                def step(
                    _: np.ndarray,
                    net: RenderDenoiser = net,
                    x: torch.Tensor = x,
                    ref: list[torch.Tensor] = ref,
                ) -> object:
                    return net(x, torch.ones(len(x)), x, x[:, :1], ref)

                rows.append(
                    {"stage": "denoiser", "size": work_size, "batch": batch, "steps": 1,
                     "ms_per_frame": time_calls(step, [motion[:batch]], cfg.repeats)}
                )  # fmt: skip
    return {"machine": machine(), "work_size": work, "weights": meta.get("recipe"), "rows": rows}


def across_avatars(
    cfg: DiffusionBenchConfig, store: AvatarStore, denoiser: Denoiser, motion: np.ndarray
) -> list[dict[str, Any]]:
    """ms per frame for one frame each of N avatars: avatar by avatar, then in one batch."""
    rows: list[dict[str, Any]] = []
    for size in cfg.sizes[:1]:
        for n in cfg.avatars:
            renderers = [
                DiffusionRenderer(seed, denoiser, size)
                for seed in (
                    add_procedural(store, TEST_SEED_BASE + k)[0].meta.procedural_seed for k in range(n)
                )
                if seed is not None
            ]
            parts = [(r, motion[k : k + 1]) for k, r in enumerate(renderers)]

            def alone(_: np.ndarray, parts: list[tuple[DiffusionRenderer, np.ndarray]] = parts) -> object:
                return [r.render(m) for r, m in parts]

            def together(_: np.ndarray, parts: list[tuple[DiffusionRenderer, np.ndarray]] = parts) -> object:
                return parts[0][0].render_together(parts)

            for stage, call in (("avatars one by one", alone), ("avatars together", together)):
                ms = time_calls(call, [motion[:1]], cfg.repeats) / n
                rows.append(
                    {"stage": stage, "size": size, "batch": n, "steps": denoiser.steps, "ms_per_frame": ms}
                )
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Machine: {result['machine']}; the diffusion renderer works at {result['work_size']} px.",
        "",
        "| stage | size | batch | steps | ms/frame |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['stage']} | {r['size']} | {r['batch']} | {r['steps']} | {r['ms_per_frame']:.1f} |"
        )
    return "\n".join(lines)


async def live_session(
    seconds: float = 20.0,
    motion_source: str = "generator",
    renderer: str = "diffusion",
    resolution: int = 256,
    weights_dir: Path | None = None,
) -> dict[str, Any]:
    """A live session on a procedural avatar against a spawned ``xactor serve``: client-side
    frames per second and the server's own fps and stage timings after ``seconds`` of speech."""
    import asyncio
    import os

    import httpx

    from xactor.bench.latency import local_server
    from xactor.bench.live_client import LiveClient, SignalTrack, procedural_avatar_ids
    from xactor.bench.speech import speech_with_onsets

    env = {"XACTOR_MOTION_SOURCE": motion_source, "XACTOR_PROCEDURAL_AVATARS": "1"}
    if weights_dir is not None:
        env["XACTOR_WEIGHTS_DIR"] = str(weights_dir)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        async with (
            local_server(
                data_dir, env={**env, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
            ) as url,
            httpx.AsyncClient(base_url=url, timeout=30.0) as http,
        ):
            (avatar_id,) = await procedural_avatar_ids(http, 1)
            signal = speech_with_onsets(seconds, period_s=3.0, lead_s=0.5, rate=48000).signal
            client = LiveClient(http=http, analyse=lambda image: 0, keep_images=False)
            await client.start(
                SignalTrack(signal),
                avatar_id=avatar_id,
                options={"renderer": renderer, "resolution": resolution},
            )
            try:
                await client.wait_frames(5, timeout=60.0)
                start_n, t0 = len(client.frames), time.perf_counter()
                await asyncio.sleep(seconds)
                client_fps = (len(client.frames) - start_n) / (time.perf_counter() - t0)
                stats = await client.stats()
            finally:
                await client.stop()
    return {
        "renderer": renderer,
        "motion_source": stats["motion_source"],
        "resolution": resolution,
        "client_fps": round(client_fps, 1),
        "server_fps": stats["fps"],
        "stages_ms": stats["stages_ms"],
        "dropped": stats["frames_dropped"],
    }
