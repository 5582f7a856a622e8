"""The app factory, /health (with the start-up capacity measurement), settings and the OpenAPI docs."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from xactor.server import __version__
from xactor.server.app import create_app
from xactor.server.settings import Settings


def test_health_reports_the_measured_capacity_and_the_warm_default_avatar(tmp_path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        deadline = time.monotonic() + 60
        while (body := client.get("/health").json())["capacity"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert body["status"] == "ok" and body["version"] == __version__
        assert body["ready"] is True
        assert client.get("/ready").json() == {"ready": True, "capacity_measured": True}
        capacity = body["capacity"]
        assert capacity is not None, "capacity not measured within 60 s"
        assert capacity["render_ms"] > 0 and capacity["encode_ms"] > 0 and capacity["motion_ms"] > 0
        assert capacity["frame_ms"] == pytest.approx(
            capacity["render_ms"] + capacity["encode_ms"] + capacity["motion_ms"], abs=0.05
        )
        assert body["max_sessions"] == capacity["sessions"] >= 1
        # Which motion source runs: the generator, or the heuristic saying why (no shipped weights).
        motion = body["motion_source"]
        assert motion["configured"] == "generator" and motion["name"] in ("generator", "heuristic")
        assert (motion["name"] == "heuristic") == ("fallback" in motion)
        # The measurement built the default avatar's renderer once, for every session to share.
        (entry,) = body["renderer_cache"]["entries"]
        assert entry["renderer"] == "warp" and entry["size"] == 256 and entry["backend"] == "torch"
        assert body["renderer_cache"]["builds"] == 1
        assert client.get("/client-config").json()["max_sessions"] == capacity["sessions"]
        assert client.get("/openapi.json").json()["info"]["title"] == "xactor"
        assert client.get("/docs").status_code == 200


def test_ready_answers_503_until_the_warm_up_is_over(tmp_path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    client = TestClient(app)  # no lifespan: the warm-up has not run
    reply = client.get("/ready")
    assert reply.status_code == 503 and reply.json()["detail"]["code"] == "warming_up"
    assert reply.headers["retry-after"] == "1"
    assert client.get("/health").json()["ready"] is False  # alive all the same


def test_a_failed_capacity_measurement_still_ends_the_warm_up(tmp_path, monkeypatch, caplog) -> None:
    app = create_app(Settings(data_dir=tmp_path))

    def broken(bundle: object) -> None:
        raise RuntimeError("no encoder here")

    monkeypatch.setattr(app.state.sessions, "measure", broken)
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while (reply := client.get("/ready")).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reply.status_code == 200 and reply.json() == {"ready": True, "capacity_measured": False}
    assert "measuring the session capacity failed" in caplog.text


def test_settings_read_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XACTOR_MAX_SESSIONS", "7")
    monkeypatch.setenv("XACTOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XACTOR_RENDERER", "warp")
    settings = Settings()
    assert settings.max_sessions == 7
    assert settings.data_dir == tmp_path
    assert settings.renderer == "warp" and settings.motion_source == "generator"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("renderer", "nope", "unknown renderer 'nope'; known: "),
        ("motion_source", "nope", "unknown motion source 'nope'; known: generator, heuristic"),
        ("backend", "cuda", "unknown backend 'cuda'"),
        ("backend", "tensorrt", "motion source 'generator' has no tensorrt backend"),
    ],
)
def test_unknown_stage_names_are_refused_at_start_up(field: str, value: str, message: str, tmp_path) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(data_dir=tmp_path, **{field: value})  # type: ignore[arg-type]


def test_torch_threads_setting_reaches_the_render_worker(tmp_path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path, torch_threads=1))) as client:
        worker = client.app.state.sessions.worker
        deadline = time.monotonic() + 10
        while worker.threads_in_use is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.threads_in_use == 1
    with pytest.raises(ValidationError):
        Settings(torch_threads=-1)
