"""The app factory, /health and the OpenAPI docs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from server import __version__
from server.app import create_app
from server.settings import Settings


def test_health_and_docs(tmp_path) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path)))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}
    assert client.get("/openapi.json").json()["info"]["title"] == "xactor"
    assert client.get("/docs").status_code == 200


def test_settings_read_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XACTOR_MAX_SESSIONS", "7")
    monkeypatch.setenv("XACTOR_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.max_sessions == 7
    assert settings.data_dir == tmp_path
