"""Serve the static web client (web_client/, no build step) at ``/``."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

log = logging.getLogger(__name__)

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "web_client"


def mount_web_client(app: FastAPI, directory: Path | None = None) -> bool:
    """Mount the client at ``/`` (call last: the mount matches every path no route took)."""
    root = directory or DEFAULT_DIR
    if not (root / "index.html").is_file():
        log.warning("no web client at %s; / is not served", root)
        return False
    app.mount("/", StaticFiles(directory=root, html=True), name="web_client")
    return True
