"""The pixel measure on frames rendered with known motion: sealed lips read as closed, an open
jaw as open, on a closed-lipped photo, the parted-lipped default and a procedural face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xactor.engines import motion_space as ms

pytest.importorskip("mediapipe", reason="Face Mesh measures the rendered mouth")


def motion(**values: float) -> np.ndarray:
    v = np.zeros(ms.MOTION_DIM, np.float32)
    for name, value in values.items():
        v[ms.INDEX[name]] = value
    return v


CLOSED = motion(jawOpen=0.05, mouthClose=0.05, mouthPressLeft=0.6, mouthPressRight=0.6)  # the corpus's "B"
OPEN = motion(jawOpen=0.55, mouthLowerDownLeft=0.2, mouthLowerDownRight=0.2)  # its "AA"


def measured(portrait: str, data_dir: Path) -> tuple[float, float]:
    """(opening of the corpus's sealed "B", opening of its "AA") rendered on ``portrait``."""
    from xactor.bench.real_speech.offline import PortraitRenderer
    from xactor.bench.real_speech.pixels import MouthMeter

    renderer = PortraitRenderer(portrait, data_dir)
    meter = MouthMeter(renderer.still)
    closed, opened = (meter(f) for f in renderer.frames(np.stack([CLOSED, OPEN])))
    return closed, opened


@pytest.mark.slow
@pytest.mark.parametrize("portrait", ["grace-hopper", "default", "procedural"])
def test_closed_and_open_mouths_read_apart(portrait: str, tmp_path: Path) -> None:
    from xactor.bench.real_speech.pixels import CLOSED as THRESHOLD

    closed, opened = measured(portrait, tmp_path)
    assert opened > 2 * THRESHOLD
    assert opened > 2.5 * max(closed, 0.01)


@pytest.mark.slow
@pytest.mark.parametrize("portrait", ["grace-hopper", "default", "procedural"])
def test_sealed_lips_read_closed(portrait: str, tmp_path: Path) -> None:
    """Sealed lips read closed on the photos and on the procedural face (which left a seam of
    teeth, 0.03 of the width, until its renderer drew nearly-meeting lips meeting)."""
    from xactor.bench.real_speech.pixels import CLOSED as THRESHOLD

    closed, _ = measured(portrait, tmp_path)
    assert closed <= THRESHOLD


def test_opening_is_the_gap_over_the_width() -> None:
    from xactor.bench.real_speech.pixels import opening
    from xactor.engines import face_regions as fr

    marks = np.zeros((478, 3), np.float32)
    marks[fr.LIPS_INNER_UPPER[0], :2] = (0, 0)  # corners 40 px apart
    marks[fr.LIPS_INNER_UPPER[-1], :2] = (40, 0)
    for i in fr.LIPS_INNER_UPPER[4:7]:
        marks[i, :2] = (20, -2)
    for i in fr.LIPS_INNER_LOWER[4:7]:
        marks[i, :2] = (20, 4)
    assert opening(marks) == pytest.approx(6 / 40)
