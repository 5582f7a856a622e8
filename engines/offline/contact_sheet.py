"""A labelled grid of rendered poses, to look at a renderer (and to put in the docs).

Typed against the renderer contract, so every registered renderer gets the same sheet and two
renderers can be compared pose by pose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from xactor.engines.offline.demo import contact_sheet_motion

if TYPE_CHECKING:
    from xactor.engines.render.base import Renderer

COLUMNS = 5
LABEL_PX = 18


def contact_sheet(renderer: Renderer, tile: int | None = None, columns: int = COLUMNS) -> Image.Image:
    """Render the contact-sheet poses (see :data:`xactor.engines.offline.demo.CONTACT_SHEET`) as one image."""
    labels, motion = contact_sheet_motion()
    frames = renderer.render(motion)  # [N, S, S, 3]
    tile = tile or renderer.size
    rows = -(-len(frames) // columns)
    sheet = Image.new("RGB", (columns * tile, rows * (tile + LABEL_PX)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, frame) in enumerate(zip(labels, frames, strict=True)):
        x, y = (i % columns) * tile, (i // columns) * (tile + LABEL_PX)
        image = Image.fromarray(np.ascontiguousarray(frame))
        if tile != frame.shape[0]:
            image = image.resize((tile, tile), Image.Resampling.LANCZOS)
        sheet.paste(image, (x, y + LABEL_PX))
        draw.text((x + 4, y + 3), label, fill="black")
    return sheet
