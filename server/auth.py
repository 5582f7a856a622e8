"""Bearer-token check for the API: active only when ``Settings.token`` is set."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from xactor.server.errors import api_error

_bearer = HTTPBearer(auto_error=False, description="Needed when the server runs with XACTOR_TOKEN set.")


def token_matches(expected: str, given: str) -> bool:
    """Compared in constant time (no timing hint of how much of a guess was right)."""
    return secrets.compare_digest(given.encode(), expected.encode())


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 ``unauthorized`` (with ``WWW-Authenticate: Bearer``) unless ``Authorization: Bearer
    <token>`` matches the configured token; compared in constant time."""
    expected: str | None = request.app.state.settings.token
    if not expected:
        return
    given = credentials.credentials if credentials is not None else ""
    if not token_matches(expected, given):
        message = (
            "Wrong bearer token." if given else "Missing bearer token: send 'Authorization: Bearer <token>'."
        )
        raise api_error(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


TokenRequired = Depends(require_token)
