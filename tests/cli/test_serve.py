"""``xactor serve`` refuses unknown stage names and bad settings before it binds a port."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from xactor.cli.main import app


def _flat(output: str) -> str:
    """The error text without rich's box and line wrapping."""
    return " ".join(output.replace("│", " ").split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--renderer", "nope"], "unknown renderer 'nope'; known: "),
        (["--motion-source", "nope"], "unknown motion source 'nope'"),
        (["--backend", "tensorrt"], "motion source 'generator' has no tensorrt backend"),
    ],
)
def test_serve_refuses_unknown_stages(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 2
    assert message in _flat(result.output)


def test_serve_refuses_a_missing_weights_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("XACTOR_WEIGHTS_DIR", str(tmp_path / "absent"))
    result = CliRunner().invoke(app, ["serve", "--renderer", "warp"])
    assert result.exit_code == 2
    assert "is not a folder" in _flat(result.output)
