"""What the web client needs before it can start: ICE servers, defaults, whether a token is required."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from server.live.options import ResolvedOptions

router = APIRouter(tags=["sessions"])


class ClientConfig(BaseModel):
    ice_servers: list[str]
    token_required: bool
    max_sessions: int
    defaults: ResolvedOptions


@router.get("/client-config", response_model=ClientConfig, summary="Settings the web client starts from")
def client_config(request: Request) -> ClientConfig:
    s = request.app.state.settings
    manager = request.app.state.sessions
    return ClientConfig(
        ice_servers=list(s.ice_servers),
        token_required=bool(s.token),
        max_sessions=manager.limit,
        defaults=manager.options_for_default(),
    )
