"""An identity's skin texture, painted in the canonical face plane (the mesh's UV space).

Every mesh vertex samples the texture at its *neutral* canonical (x, y), so brows, lips, freckles
and stubble are painted once and ride on the skin through every expression and pose.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from xactor.engines import face_regions as fr
from xactor.engines.procedural.identity import FaceIdentity

UV_LOW = np.array([-0.66, -0.72])  # canonical (x, y) at texture pixel (0, 0)
UV_SPAN = 1.44  # canonical units across the texture, both axes
TEXTURE = 384  # texture side, pixels


def uv_pixels(xy: np.ndarray) -> np.ndarray:
    """Canonical (x, y) [..., 2] → texture pixel coordinates (x, y) [..., 2]."""
    return (np.asarray(xy) - UV_LOW) / UV_SPAN * (TEXTURE - 1)


def _smooth_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """Zero-mean noise [T, T] varying over ``cells`` cells across the texture (bicubic)."""
    grid = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    img = Image.fromarray(grid, mode="F").resize((TEXTURE, TEXTURE), Image.Resampling.BICUBIC)
    return np.asarray(img)


def _polygon_mask(points: np.ndarray, blur: float) -> np.ndarray:
    mask = Image.new("L", (TEXTURE, TEXTURE), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in uv_pixels(points)], fill=255)
    if blur:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(mask, np.float32)[..., None] / 255.0


def skin_texture(identity: FaceIdentity) -> np.ndarray:
    """float32 [T, T, 3] albedo in 0..1: skin with tone noise, blush, stubble, freckles, lips, brows."""
    rng = np.random.default_rng([identity.seed, 31])
    n = identity.neutral[:, :2]
    tex: np.ndarray = np.broadcast_to(identity.skin, (TEXTURE, TEXTURE, 3)).astype(np.float32).copy()
    tex *= 1.0 + 0.05 * _smooth_noise(rng, 6)[..., None] + 0.015 * _smooth_noise(rng, 48)[..., None]
    yy, xx = np.meshgrid(np.arange(TEXTURE), np.arange(TEXTURE), indexing="ij")
    canon_x = UV_LOW[0] + xx / (TEXTURE - 1) * UV_SPAN
    canon_y = UV_LOW[1] + yy / (TEXTURE - 1) * UV_SPAN
    blush = rng.uniform(0.0, 0.12)
    for side in (-1, 1):
        g = np.exp(-((canon_x - side * 0.24) ** 2 + (canon_y - 0.12) ** 2) / (2 * 0.07**2))
        tex += (blush * g)[..., None] * np.array([0.5, -0.3, -0.3], np.float32)
    if identity.stubble:
        lower = np.clip((canon_y - 0.22) / 0.1, 0, 1) * np.clip(1 - (np.abs(canon_x) - 0.3) / 0.1, 0, 1)
        grain = 0.6 + 0.4 * np.clip(_smooth_noise(rng, 96), -1, 1)
        tex *= 1.0 - (identity.stubble * lower * grain)[..., None]
    for _ in range(identity.freckles):
        cx, cy = rng.normal(0, 0.14), rng.normal(0.02, 0.07)
        r = rng.uniform(0.004, 0.009)
        dot = np.exp(-((canon_x - cx) ** 2 + (canon_y - cy) ** 2) / (2 * r**2))
        tex *= 1.0 - 0.25 * dot[..., None]
    lips = n[list(fr.LIPS_OUTER_UPPER + tuple(reversed(fr.LIPS_OUTER_LOWER)))]
    a = _polygon_mask(lips, 1.2)
    tex = tex * (1 - a) + a * identity.lips.astype(np.float32)
    thick = rng.uniform(0.7, 1.3)
    for upper, lower in (
        (fr.BROW_RIGHT_UPPER, fr.BROW_RIGHT_LOWER),
        (fr.BROW_LEFT_UPPER, fr.BROW_LEFT_LOWER),
    ):
        top, bottom = n[list(upper)], n[list(lower)]
        mid = (top + bottom) / 2
        ring = np.concatenate([mid + (top - mid) * thick, (mid + (bottom - mid) * thick)[::-1]])
        a = _polygon_mask(ring, 1.5) * 0.9
        tex = tex * (1 - a) + a * identity.brows.astype(np.float32)
    return np.clip(tex, 0, 1)
