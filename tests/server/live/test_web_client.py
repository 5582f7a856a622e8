"""The static web client is served at / and finds its configuration."""

from __future__ import annotations

from fastapi.testclient import TestClient

from xactor.server.app import create_app
from xactor.server.settings import Settings


def test_web_client_is_served(tmp_path) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path, ice_servers=["stun:stun.example.org"])))
    index = client.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert 'src="app.js"' in index.text
    assert "RTCPeerConnection" in client.get("/app.js").text
    assert client.get("/style.css").status_code == 200
    config = client.get("/client-config").json()
    assert config["ice_servers"] == [
        {"urls": ["stun:stun.example.org"], "username": None, "credential": None}
    ]
    assert config["token_required"] is False
    assert config["defaults"]["resolution"] == 256 and config["defaults"]["codec"] == "h264"
    # The motion-source and emotion selectors are filled from what the server lists.
    assert 'id="opt-motion-source"' in index.text and 'id="opt-emotion"' in index.text
    assert {"generator", "heuristic"} <= set(config["motion_sources"]) and "happy" in config["emotions"]
    assert config["defaults"]["motion_source"] == "generator" and config["defaults"]["emotion"] is None
    assert client.get("/no-such-file.js").status_code == 404
    assert client.delete("/no-such-file.js").status_code == 404


def test_client_config_is_public_and_says_a_token_is_needed(tmp_path) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path, token="t0k")))
    assert client.get("/client-config").json()["token_required"] is True
    assert client.get("/").status_code == 200
