"""The API token never reaches a log line: not through uvicorn's access log (``?token=`` request
lines, WebSocket upgrades), not through the server's own loggers, not in tracebacks."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from xactor.server import log_redaction
from xactor.server.app import create_app
from xactor.server.settings import Settings

TOKEN = "zq8-Secret-7d41c0"
ROOT = Path(__file__).resolve().parents[2]

# `xactor serve` as a user runs it (its logging set-up, uvicorn's access log on), on the test
# renderer (registered by the live tests' conftest).
_SERVE = """
import sys
import tests.server.live.conftest
from xactor.cli.main import app
app(["serve", "--host", "127.0.0.1", "--port", sys.argv[1], "--renderer", "test-bar",
     "--motion-source", "heuristic", "--max-sessions", "1"])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text(errors="replace"):
        assert proc.poll() is None, path.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} within {timeout_s} s"
        time.sleep(0.1)


def test_xactor_serve_logs_no_token(tmp_path: Path) -> None:
    port = _free_port()
    out = tmp_path / "serve.log"
    env = {
        **os.environ,
        "XACTOR_TOKEN": TOKEN,
        "XACTOR_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    env["XACTOR_PROCEDURAL_AVATARS"] = "0"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(port)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        # uvicorn says "startup complete" after the app's lifespan and *before* it binds the port:
        # a loaded machine connected in between and was refused. "running on" follows the bind.
        _wait_for(out, "Uvicorn running on", proc, 120)
        base = f"127.0.0.1:{port}"
        with connect(f"ws://{base}/sessions/stream?token={TOKEN}", open_timeout=10) as ws:
            ws.send(json.dumps({"sample_rate": 3}))  # refused: logged, with the request line
            assert json.loads(ws.recv(timeout=10))["code"] == "invalid_request"
        with httpx.Client(base_url=f"http://{base}", timeout=10) as http:
            assert http.get(f"/viewer.html?session=latest&token={TOKEN}").status_code == 200
            assert http.get(f"/metrics?token={TOKEN}x").status_code == 401  # a bad request
            assert http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:  # not even HTTP
            raw.sendall(f"BOGUS /?token={TOKEN} HTTP/9\r\n\r\n".encode())
            raw.recv(1024)
        _wait_for(out, "/metrics HTTP/1.1", proc, 10)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    log = out.read_text(errors="replace")
    assert TOKEN not in log, [line for line in log.splitlines() if TOKEN in line]
    assert '"WebSocket /sessions/stream?token=…" [accepted]' in log, log[-3000:]
    assert '"GET /viewer.html?session=latest&token=… HTTP/1.1" 200' in log
    assert '"GET /metrics?token=… HTTP/1.1" 401' in log
    assert "Invalid HTTP request received" in log


def test_every_logger_and_traceback_is_masked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    create_app(Settings(data_dir=tmp_path / "data", token=TOKEN))
    log = logging.getLogger("tests.redaction")
    # A uvicorn run earlier in the process stops this logger propagating to caplog and sets its level
    # (log_level="warning" in the tests): hand it caplog's handler and open it for the test.
    access_log = logging.getLogger("uvicorn.access")
    was_level = access_log.level
    access_log.setLevel(logging.INFO)
    access_log.addHandler(caplog.handler)
    with caplog.at_level(logging.INFO):
        log.info("headers %s", {"authorization": f"Bearer {TOKEN}"})  # through an object's str
        log.info("url %s", f"ws://h/sessions/stream?video=none&token={TOKEN}&x=1")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "1.2.3.4:5", "GET", f"/?token={TOKEN}", "1.1", 200
        )
        try:
            raise ValueError(f"bad token {TOKEN}")
        except ValueError:
            log.exception("failed")
    access_log.removeHandler(caplog.handler)
    access_log.setLevel(was_level)
    text = "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}" for r in caplog.records)
    assert TOKEN not in text and TOKEN not in caplog.text
    assert "token=…&x=1" in text and "ValueError: bad token …" in text
    access = next(r for r in caplog.records if r.name == "uvicorn.access")  # (other threads may log too)
    assert (
        isinstance(access.args, tuple) and access.args[2] == "/?token=…"
    )  # uvicorn's formatter unpacks these
    assert log_redaction.redact("Authorization: Bearer <token>") == "Authorization: Bearer <token>"
