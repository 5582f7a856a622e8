"""Serve the static web client (the ``web_client`` package: static files, no build step) at ``/``.

The client is found through ``importlib.resources``, not a path relative to this file, so a
wheel install (``pip install .``) serves the same page as a checkout.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

log = logging.getLogger(__name__)

WEB_CLIENT_PACKAGE = "xactor.web_client"


def default_dir() -> Path | None:
    """The folder of the installed ``web_client`` package, or None when it is not installed."""
    try:
        files = resources.files(WEB_CLIENT_PACKAGE)
    except ModuleNotFoundError:
        return None
    # A regular package installed as files is a real folder; StaticFiles needs one (not a zip).
    return files if isinstance(files, Path) else None


class WebClientFiles(StaticFiles):
    """StaticFiles that answers 404, not 405, to other methods: the mount at ``/`` sees every path
    no API route matched (``DELETE /avatars/../x`` must stay a plain 404)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def mount_web_client(app: FastAPI, directory: Path | None = None) -> bool:
    """Mount the client at ``/`` (call last: the mount matches every path no route took)."""
    root = directory or default_dir()
    if root is None or not (root / "index.html").is_file():
        log.warning("no web client at %s; / is not served", root or f"package {WEB_CLIENT_PACKAGE!r}")
        return False
    app.mount("/", WebClientFiles(directory=root, html=True), name="web_client")
    return True
