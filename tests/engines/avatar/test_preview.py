"""The preview a person checks: the mesh must be drawn on the face, not beside it."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from xactor.engines.avatar.bundle import AvatarBundle
from xactor.engines.avatar.detect import detect_faces
from xactor.engines.avatar.preview import draw_landmarks, preview_png, render_preview


def test_mesh_is_drawn_over_the_detected_face(grace: AvatarBundle) -> None:
    crop = grace.crop(512)
    drawn = draw_landmarks(crop, grace.landmarks(512))
    changed = np.abs(drawn.astype(int) - crop).sum(-1) > 30  # [512, 512] pixels the drawing touched
    face = detect_faces(crop)[0]  # found independently on the crop
    x0, y0, x1, y1 = (int(v) for v in (face.x0, face.y0, face.x1, face.y1))
    assert changed[y0:y1, x0:x1].mean() > 0.25  # the mesh covers the face densely
    assert changed[:40, :40].sum() == 0 and changed[-40:, -40:].sum() == 0  # and nothing far from it
    ys, xs = np.nonzero(changed)
    assert abs(xs.mean() - (x0 + x1) / 2) < 0.1 * 512 and abs(ys.mean() - (y0 + y1) / 2) < 0.15 * 512


def test_preview_png(grace: AvatarBundle) -> None:
    image = render_preview(grace, 256)
    assert image.shape[1] == 256 and image.shape[0] > 256 and image.dtype == np.uint8
    with Image.open(io.BytesIO(preview_png(grace))) as png:
        assert png.format == "PNG" and png.width == 512 and png.height > 512
