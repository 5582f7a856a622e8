"""The render contract's default batch: only one renderer's own rows share a call."""

from __future__ import annotations

import numpy as np

from xactor.engines.render.base import Renderer


class Stamp(Renderer):
    """Each frame: this renderer's stamp in channel 0, the row's first motion value in channel 1."""

    def __init__(self, stamp: int) -> None:
        self.stamp = stamp
        self.batches: list[int] = []

    @property
    def size(self) -> int:
        return 2

    def render(self, motion: np.ndarray) -> np.ndarray:
        motion = np.atleast_2d(motion)
        self.batches.append(len(motion))
        out = np.zeros((len(motion), 2, 2, 3), np.uint8)  # [B, S, S, 3]
        out[..., 0] = self.stamp
        out[..., 1] = motion[:, :1, None].astype(np.uint8)
        return out


def test_default_render_together_stacks_each_renderers_rows_and_keeps_the_order() -> None:
    a, b = Stamp(1), Stamp(2)
    assert a.batch_key() != b.batch_key() and a.batch_key() == a.batch_key()
    rows = [np.full((1, 40), v, np.float32) for v in (10, 20, 30)]
    out = a.render_together([(a, rows[0]), (b, rows[1]), (a, np.concatenate([rows[2], rows[2]]))])
    assert [f.shape[0] for f in out] == [1, 1, 2]
    assert [int(f[0, 0, 0, 0]) for f in out] == [1, 2, 1]  # each part drawn by its own renderer
    assert [int(f[-1, 0, 0, 1]) for f in out] == [10, 20, 30]  # and from its own motion
    assert a.batches == [3] and b.batches == [1]  # a's rows in one call
