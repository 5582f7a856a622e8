"""Bearer-token check for the API: active only when ``Settings.token`` is set."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="Needed when the server runs with XACTOR_TOKEN set.")


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless ``Authorization: Bearer <token>`` matches the configured token (constant-time)."""
    expected: str | None = request.app.state.settings.token
    if not expected:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token" if given else "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


TokenRequired = Depends(require_token)
