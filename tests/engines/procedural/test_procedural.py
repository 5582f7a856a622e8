"""Procedural identities: deterministic, varied, and drawn with correct occlusion (teeth only
through open lips, irises hidden by closed lids and moved by gaze), plus the rasteriser."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from xactor.cli.main import app
from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.procedural.identity import sample_identity
from xactor.engines.procedural.raster import rasterize, skin_triangles
from xactor.engines.procedural.render import ProceduralFace

GREEN = np.array([0.0, 1.0, 0.0])


def _count(frame: np.ndarray, colour: tuple[int, int, int], tol: int = 12) -> int:
    return int((np.abs(frame.astype(int) - np.array(colour)).max(-1) <= tol).sum())


def test_same_seed_same_person_other_seed_another() -> None:
    a, b = ProceduralFace(sample_identity(3), 128), ProceduralFace(sample_identity(3), 128)
    rest = ms.zeros()[0]
    np.testing.assert_array_equal(a.render(rest), b.render(rest))
    other = ProceduralFace(sample_identity(4), 128).render(rest)
    assert np.abs(other.astype(int) - a.render(rest).astype(int)).mean() > 10
    assert not np.allclose(sample_identity(3).neutral, sample_identity(4).neutral)


def test_teeth_show_only_through_open_lips() -> None:
    face = ProceduralFace(sample_identity(5), 256)
    upper_teeth = (242, 237, 224)  # (0.95, 0.93, 0.88) unshaded
    rest = face.render(ms.zeros()[0])
    opened = face.render(ms.from_dict({"jawOpen": 0.8})[0])
    assert _count(rest, upper_teeth) < 15 < 80 < _count(opened, upper_teeth)
    lips = face.face_model.landmarks(ms.from_dict({"jawOpen": 0.8})[0])[list(fr.LIPS)]
    ys, xs = np.nonzero(np.abs(opened.astype(int) - upper_teeth).max(-1) <= 12)
    assert lips[:, 0].min() <= xs.min() and xs.max() <= lips[:, 0].max()  # inside the mouth
    assert lips[:, 1].min() <= ys.min() and ys.max() <= lips[:, 1].max()


def test_irises_hide_behind_closed_lids_and_follow_gaze() -> None:
    identity = replace(sample_identity(6), eyes=GREEN)
    face = ProceduralFace(identity, 256)
    green = (0, 255, 0)
    open_eyes = face.render(ms.zeros()[0])
    closed = face.render(ms.from_dict({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0})[0])
    assert _count(closed, green, 40) < 3 < 30 < _count(open_eyes, green, 40)
    xs = {}
    for gaze in (-0.5, 0.5):
        frame = face.render(ms.from_dict({"gazeYaw": gaze})[0])
        xs[gaze] = np.nonzero(np.abs(frame.astype(int) - green).max(-1) <= 40)[1].mean()
    assert xs[0.5] - xs[-0.5] > 2  # pixels: the irises moved with the gaze


def test_the_face_turns_with_the_head() -> None:
    face = ProceduralFace(sample_identity(7), 256)
    nose = {}
    for yaw in (-0.3, 0.3):
        m = ms.from_dict({"headYaw": yaw})[0]
        nose[yaw] = face.face_model.landmarks(m)[fr.NOSE_TIP, 0]
        frame = face.render(m)
        x, y = np.round(face.face_model.landmarks(m)[fr.NOSE_TIP, :2]).astype(int)
        skin = face.identity.skin * 255
        assert np.abs(frame[y, x].astype(float) - skin).max() < 160  # the nose tip is skin, not background
    assert nose[0.3] - nose[-0.3] > 20


def test_rasteriser_keeps_the_nearest_triangle() -> None:
    xy = np.array([[2, 2], [30, 2], [2, 30], [4, 4], [28, 4], [4, 28]], float)
    depth = np.array([5, 5, 5, 1, 1, 1], float)  # the second triangle is nearer
    tris = np.array([[0, 1, 2], [3, 4, 5]])
    r = rasterize(xy, depth, tris, 32, 32)
    assert r.triangle[10, 10] == 1 and r.triangle[3, 3] == 0 and r.triangle[31, 31] == -1
    assert abs(int(r.mask.sum()) - 0.5 * 29 * 29) < 40  # the big triangle's area, about
    w = r.weights[r.mask]
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    assert len(skin_triangles()) > 800


def test_cli_writes_a_contact_sheet(tmp_path: Path) -> None:
    out = tmp_path / "faces.png"
    result = CliRunner().invoke(app, ["synth", "faces", "--count", "2", "--size", "128", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (6 * 128, 2 * 128)
    bad = CliRunner().invoke(app, ["synth", "faces", "--size", "100", "--out", str(out)])
    assert bad.exit_code == 1


@pytest.mark.parametrize("size", [128, 512])
def test_any_size_renders(size: int) -> None:
    frame = ProceduralFace(sample_identity(1), size).render(ms.zeros()[0])
    assert frame.shape == (size, size, 3) and frame.dtype == np.uint8
