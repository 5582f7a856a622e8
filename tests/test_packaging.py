"""``pip install .`` gives a working server: build the wheel, install it into a fresh venv, serve.

The editable install of the checkout hides packaging mistakes (a folder left out of the wheel, a
file found relative to the repository), so this builds a real wheel, installs it with
``--no-deps`` into a new venv that sees the dependencies of this one through a ``.pth`` file (no
download), and runs ``xactor serve`` from a directory outside the repository.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Not part of the source: caches, virtualenvs, build output, run-time data at the repository root.
SKIP = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
ROOT_SKIP = {"data", "out"}

pytestmark = pytest.mark.slow


def _copy_source(dest: Path) -> Path:
    """A clean copy of the checkout to build from, so the build never writes into the repository."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        at_root = Path(folder) == ROOT
        return {n for n in names if n in SKIP or n.endswith(".egg-info") or (at_root and n in ROOT_SKIP)}

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that would point Python or xactor at the checkout."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("XACTOR_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    return {**env, **extra}


@contextlib.contextmanager
def _serving(xactor: Path, port: int, cwd: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """``xactor serve`` in a subprocess until ``/health`` answers; always killed on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(xactor), "serve", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 45
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"xactor serve exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"xactor serve did not answer /health in 45 s:\n{log.read_text()[-4000:]}")
                time.sleep(0.25)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_wheel_installs_and_serves_the_page_and_the_default_avatar(tmp_path: Path) -> None:
    source = _copy_source(tmp_path / "src")
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", ".", "-w", wheels, cwd=source)
    [wheel] = wheels.glob("xactor-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for needed in (
        "xactor/cli/main.py",
        "xactor/web_client/index.html",
        "xactor/web_client/app.js",
        "xactor/web_client/style.css",
        "xactor/engines/data/neutral_face.npz",
        "xactor/engines/offline/video.py",
        "xactor/engines/data/motion/motion_student.safetensors",
        "xactor/engines/data/render/render_student.safetensors",
        "xactor/engines/data/render/render_student.json",
    ):
        assert needed in names, f"{needed} is not in the wheel"
    assert not any(n.startswith("tests/") for n in names)
    # One installed name: no generic top-level `server` or `engines` to collide with others.
    assert {n.split("/")[0] for n in names} == {"xactor", "xactor-0.1.0.dist-info"}

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip()
    )
    # The dependencies of this venv, without download. A path line in a .pth file is only added to
    # sys.path: the .pth files inside it (this venv's editable install of the checkout) are not run.
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "xactor_test_deps.pth").write_text("".join(f"{p}\n" for p in ours))
    _run(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)

    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    run_dir.mkdir()
    env = _clean_env(XACTOR_DATA_DIR=str(data_dir))
    which = (
        "import xactor.cli as c, xactor.server as s, xactor.web_client as w; print(c.__file__, s.__file__, "
    )
    which += "w.__file__)"
    where = _run(python, "-c", which, cwd=run_dir, env=env).split()
    for module_file in where:
        assert Path(module_file).is_relative_to(site), f"{module_file} is not from the installed wheel"
    stray = "import importlib.util as u; print([n for n in ('server', 'engines', 'cli') if u.find_spec(n)])"
    assert _run(python, "-c", stray, cwd=run_dir, env=env).strip() == "[]"

    with _serving(venv / "bin" / "xactor", _free_port(), run_dir, env, tmp_path / "serve.log") as url:
        page = httpx.get(f"{url}/", timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'src="app.js"' in page.text
        script = httpx.get(f"{url}/app.js", timeout=10)
        assert script.status_code == 200 and "RTCPeerConnection" in script.text
        avatars = httpx.get(f"{url}/avatars", timeout=60)
        assert avatars.status_code == 200, avatars.text
        listed = avatars.json()
        default = [a for a in listed["avatars"] if a["is_default"]]
        assert len(default) == 1 and listed["default_id"] == default[0]["id"]
    assert (data_dir / "avatars" / default[0]["id"] / "meta.json").is_file()
    assert not (run_dir / "data").exists()  # XACTOR_DATA_DIR was used, not ./data
