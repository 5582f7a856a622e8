"""Serve the static web client (web_client/, no build step) at ``/``."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

log = logging.getLogger(__name__)

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "web_client"


class WebClientFiles(StaticFiles):
    """StaticFiles that answers 404, not 405, to other methods: the mount at ``/`` sees every path
    no API route matched (``DELETE /avatars/../x`` must stay a plain 404)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def mount_web_client(app: FastAPI, directory: Path | None = None) -> bool:
    """Mount the client at ``/`` (call last: the mount matches every path no route took)."""
    root = directory or DEFAULT_DIR
    if not (root / "index.html").is_file():
        log.warning("no web client at %s; / is not served", root)
        return False
    app.mount("/", WebClientFiles(directory=root, html=True), name="web_client")
    return True
