"""``xactor avatar add/list/show/delete`` through typer's test runner."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from tests import fixtures_images as fx
from xactor.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-data")


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["avatar", *args])
    return result.exit_code, result.stdout, result.stderr


def test_add_list_show_delete(data_dir: Path, tmp_path: Path) -> None:
    code, out, err = _run("add", str(fx.grace_hopper_path()), "--data-dir", str(data_dir))
    assert code == 0, err
    ident = out.strip()
    assert len(ident) == 16 and "added" in err and "grace_hopper" in err
    assert (data_dir / "avatars" / ident / "meta.json").is_file()

    code, out, _ = _run("add", str(fx.grace_hopper_path()), "--data-dir", str(data_dir))
    assert code == 0 and out.strip() == ident  # same picture, same avatar

    code, out, _ = _run("list", "--data-dir", str(data_dir))
    assert code == 0 and ident in out and "grace_hopper" in out and "astronaut (default)" in out
    code, out, _ = _run("list", "--json", "--data-dir", str(data_dir))
    listed = json.loads(out)
    assert {a["id"] for a in listed} >= {ident} and any(a["is_default"] for a in listed)

    preview = tmp_path / "preview.png"
    code, out, err = _run("show", ident, "--out", str(preview), "--data-dir", str(data_dir))
    assert code == 0, err
    assert json.loads(out)["id"] == ident
    with Image.open(io.BytesIO(preview.read_bytes())) as png:
        assert png.format == "PNG" and png.width == 512

    code, _, _ = _run("delete", ident, "--data-dir", str(data_dir))
    assert code == 0 and not (data_dir / "avatars" / ident).exists()


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (fx.no_face_jpeg, "No face"),
        (fx.two_faces_png, "--largest"),
        (fx.text_as_jpg, "not a JPEG, PNG or WebP"),
        (fx.truncated_jpeg, "damaged"),
        (fx.png_bomb, "megapixels"),
    ],
    ids=["no-face", "two-faces", "text", "truncated", "bomb"],
)
def test_add_bad_input_exits_1_with_a_message(data_dir: Path, tmp_path: Path, make, needle: str) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(make())
    before = sorted(p.name for p in (data_dir / "avatars").iterdir())
    code, out, err = _run("add", str(path), "--data-dir", str(data_dir))
    assert code == 1 and out == ""
    assert "error:" in err and needle in " ".join(err.split())
    assert "Traceback" not in err
    assert sorted(p.name for p in (data_dir / "avatars").iterdir()) == before


def test_largest_flag(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "pair.png"
    path.write_bytes(fx.two_faces_png())
    code, out, _ = _run(
        "add", str(path), "--largest", "--name", "Grace (from pair)", "--data-dir", str(data_dir)
    )
    assert code == 0
    meta = json.loads((data_dir / "avatars" / out.strip() / "meta.json").read_text())
    assert meta["name"] == "Grace (from pair)" and meta["faces_detected"] == 2


def test_missing_file_and_bad_ids(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = _run("add", str(tmp_path / "nope.jpg"), "--data-dir", str(data_dir))
    assert code == 1 and "cannot read" in err
    for bad in ("../etc", "0123456789abcdef"):
        code, _, err = _run("show", bad, "--data-dir", str(data_dir))
        assert code == 1 and "error:" in err
    code, _, err = _run("delete", "../../x", "--data-dir", str(data_dir))
    assert code == 1 and "not an avatar id" in " ".join(err.split())
