"""``xactor eval render``: the warp prior, the teacher and the student against exact frames of
held-out procedural identities (test split): PSNR and SSIM on the whole frame and the mouth box,
and temporal flicker on consecutive frames of held-out speech motion. Writes a JSON report, a
Markdown table and a picture (prior | teacher | student | truth, with mouth close-ups)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from xactor.engines import motion_space as ms
from xactor.engines.diffusion.maps import landmark_map
from xactor.engines.diffusion.model import RenderDenoiser, to_images, to_tensor
from xactor.training.render.batches import RenderBatch, make_batch, mouth_boxes
from xactor.training.render.data import load_split
from xactor.training.render.metrics import flicker, psnr, ssim
from xactor.training.render.train import render_frames


def _rows(
    models: dict[str, tuple[RenderDenoiser, int]], batch: RenderBatch, same_noise: bool = False
) -> dict[str, torch.Tensor]:
    out = {"warp prior": batch.prior}
    for name, (model, steps) in models.items():
        out[name] = render_frames(model, batch, steps, same_noise=same_noise)
    return out


def evaluate_pairs(
    data: Path, models: dict[str, tuple[RenderDenoiser, int]], limit: int | None = None
) -> tuple[dict[str, dict[str, float]], RenderBatch, dict[str, torch.Tensor]]:
    """Mean metrics per model over the test split (``limit`` samples at most); also the first
    batch and its frames, for the picture."""
    test = load_split(data, "test")
    index = np.arange(len(test)) if limit is None else np.linspace(0, len(test) - 1, limit).astype(int)
    sums: dict[str, dict[str, list[float]]] = {}
    first: tuple[RenderBatch, dict[str, torch.Tensor]] | None = None
    for start in range(0, len(index), 16):
        batch = make_batch(test, index[start : start + 16])
        frames = _rows(models, batch)
        if first is None:
            first = (batch, frames)
        for name, images in frames.items():
            whole, mouth = psnr(images, batch.target, batch.boxes)
            got = sums.setdefault(name, {"psnr": [], "psnr_mouth": [], "ssim": [], "ssim_mouth": []})
            got["psnr"] += whole
            got["psnr_mouth"] += mouth
            got["ssim"] += ssim(images, batch.target)
            got["ssim_mouth"] += ssim(images, batch.target, batch.boxes)
    assert first is not None
    table = {name: {k: round(float(np.mean(v)), 4) for k, v in got.items()} for name, got in sums.items()}
    for name in table:
        table[name]["n"] = len(index)
    return table, first[0], first[1]


def evaluate_flicker(
    corpus: Path,
    models: dict[str, tuple[RenderDenoiser, int]],
    size: int,
    identities: int = 4,
    frames: int = 75,
) -> dict[str, float]:
    """Flicker (grey levels) per model on ``frames`` consecutive frames of a held-out corpus clip,
    drawn on held-out identities; every frame of a sequence starts from the same noise, as the
    live renderer's do."""
    from xactor.engines.procedural.identity import sample_identity
    from xactor.engines.procedural.render import ProceduralFace, reference_and_warp
    from xactor.training.corpus.store.format import iter_clips
    from xactor.training.render.data import SPLIT_SEED_BASE

    clip = next(iter_clips(corpus, "test"))[1]["motion"].astype(np.float32)
    scores: dict[str, list[float]] = {}
    for k in range(identities):
        face = ProceduralFace(sample_identity(SPLIT_SEED_BASE["test"] + k), size)
        reference, warp = reference_and_warp(face, trace=False)
        motion = ms.clamp_np(clip[200 * k : 200 * k + frames])
        marks = face.face_model.landmarks(motion)[..., :2]
        batch = RenderBatch(
            prior=to_tensor(warp.render(motion)),
            target=to_tensor(np.stack([face.render(m) for m in motion])),
            reference=to_tensor(np.repeat(reference[None], len(motion), 0)),
            lmap=torch.from_numpy(np.stack([landmark_map(m, size) for m in marks])[:, None]),
            mouth=torch.zeros(len(motion), 1, size, size),
            boxes=mouth_boxes(marks, size),
        )
        for name, images in _rows(models, batch, same_noise=True).items():  # one noise, as live
            scores.setdefault(name, []).append(flicker(images, batch.target))
    return {name: round(float(np.mean(v)), 3) for name, v in scores.items()}


def picture(batch: RenderBatch, frames: dict[str, torch.Tensor], count: int = 6) -> np.ndarray:
    """uint8 image: one column per sample; rows: each model, then the truth; mouth close-ups below."""
    rows = [*frames.values(), batch.target]
    size = batch.prior.shape[-1]
    full = [np.concatenate(list(to_images(r[:count])), 1) for r in rows]
    crops = []
    for r in rows:
        tiles = []
        for i in range(min(count, len(r))):
            x0, y0, x1, y1 = batch.boxes[i]
            tile = Image.fromarray(to_images(r[i : i + 1])[0][y0:y1, x0:x1]).resize(
                (size, size // 2), Image.Resampling.NEAREST
            )
            tiles.append(np.asarray(tile))
        crops.append(np.concatenate(tiles, 1))
    return np.concatenate(full + crops, 0)


def markdown(table: dict[str, dict[str, float]], flick: dict[str, float] | None) -> str:
    lines = [
        "| | PSNR dB | PSNR mouth dB | SSIM | SSIM mouth | flicker (grey levels) |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in table.items():
        f = "—" if not flick else f"{flick.get(name, float('nan')):.2f}"
        lines.append(
            f"| {name} | {m['psnr']:.2f} | {m['psnr_mouth']:.2f} | {m['ssim']:.4f} "
            f"| {m['ssim_mouth']:.4f} | {f} |"
        )
    return "\n".join(lines)


def run(
    data: Path,
    out: Path,
    models: dict[str, tuple[RenderDenoiser, int]],
    corpus: Path | None,
    limit: int | None,
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    table, batch, frames = evaluate_pairs(data, models, limit)
    size = batch.prior.shape[-1]
    flick = evaluate_flicker(corpus, models, size) if corpus is not None else None
    Image.fromarray(picture(batch, frames)).save(out / "render_eval.png")
    report = {"table": table, "flicker": flick, "wall_s": round(time.perf_counter() - t0, 1)}
    (out / "render_eval.json").write_text(json.dumps(report, indent=1))
    (out / "render_eval.md").write_text(markdown(table, flick) + "\n")
    return report
