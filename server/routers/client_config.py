"""What the web client needs before it can start: ICE servers, defaults, whether a token is required."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from xactor.engines.motion_source.base import EMOTIONS, MOTION_SOURCES
from xactor.server.live.options import ResolvedOptions
from xactor.server.settings import IceServer

router = APIRouter(tags=["sessions"])


class ClientConfig(BaseModel):
    ice_servers: list[IceServer] = Field(description="RTCIceServer objects for the browser's peer connection")
    token_required: bool
    max_sessions: int
    defaults: ResolvedOptions
    motion_sources: list[str] = Field(description="Registered motion sources a session may choose.")
    emotions: list[str] = Field(description="Emotions a session may ask the generator to act.")


@router.get("/client-config", response_model=ClientConfig, summary="Settings the web client starts from")
def client_config(request: Request) -> ClientConfig:
    s = request.app.state.settings
    manager = request.app.state.sessions
    return ClientConfig(
        ice_servers=list(s.ice_servers),
        token_required=bool(s.token),
        max_sessions=manager.limit,
        defaults=manager.options_for_default(),
        motion_sources=MOTION_SOURCES.names(),
        emotions=list(EMOTIONS),
    )
