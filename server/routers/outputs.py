"""``/sessions/{id}/outputs``: push a live session to RTMP ingests (livestream platforms, OBS, ffmpeg).

Each output pushes from a process of its own, held to handshake and write deadlines; it reconnects
with back-off and never slows the session (server/live/rtmp.py). Outputs end with ``DELETE``, or
with their session.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from xactor.server.auth import TokenRequired
from xactor.server.errors import ErrorDoc, api_error, error_responses
from xactor.server.live.lifecycle import LiveSession
from xactor.server.live.manager import SessionManager
from xactor.server.routers.sessions import MAX_SESSION_ID_CHARS, SESSION_NOT_FOUND

router = APIRouter(
    prefix="/sessions", tags=["outputs"], dependencies=[TokenRequired], responses=error_responses(401)
)

SessionId = Annotated[str, Path(max_length=MAX_SESSION_ID_CHARS, description="The session to push")]
OUTPUT_NOT_FOUND = ErrorDoc(404, "output_not_found", "No such output of this session", "There is no output x")
MAX_OUTPUTS = 4
TOO_MANY_OUTPUTS = ErrorDoc(
    422, "too_many_outputs", f"The session already pushes to {MAX_OUTPUTS} outputs", "at most 4 outputs"
)


class OutputIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is refused, not ignored

    rtmp: str = Field(
        max_length=2048,
        pattern=r"^rtmps?://[^\s]+$",
        description="Ingest URL with its stream key, e.g. rtmp://live.example.com/app/KEY",
    )


def _session(request: Request, session_id: str) -> LiveSession:
    manager: SessionManager = request.app.state.sessions
    session = manager.get(session_id)
    if session is None or session.closed:
        raise api_error(404, "session_not_found", f"There is no session {session_id}.")
    return session


@router.post(
    "/{session_id}/outputs",
    status_code=status.HTTP_201_CREATED,
    summary="Push the session to an RTMP ingest (H.264 + AAC)",
    responses=error_responses(SESSION_NOT_FOUND, 422, TOO_MANY_OUTPUTS),
)
async def add_output(
    request: Request, session_id: SessionId, body: Annotated[OutputIn, Body()]
) -> dict[str, Any]:
    session = _session(request, session_id)
    if len(session.outputs) >= MAX_OUTPUTS:
        raise api_error(422, "too_many_outputs", f"a session pushes to at most {MAX_OUTPUTS} outputs")
    return session.add_rtmp_output(body.rtmp).describe()


@router.get(
    "/{session_id}/outputs",
    summary="The session's outputs",
    responses=error_responses(SESSION_NOT_FOUND, 422),
)
async def list_outputs(request: Request, session_id: SessionId) -> list[dict[str, Any]]:
    return [o.describe() for o in _session(request, session_id).outputs]


@router.delete(
    "/{session_id}/outputs/{output_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Stop an output (flushes and disconnects)",
    responses=error_responses(SESSION_NOT_FOUND, OUTPUT_NOT_FOUND, 422),
)
async def remove_output(
    request: Request, session_id: SessionId, output_id: Annotated[str, Path(max_length=64)]
) -> Response:
    if not await _session(request, session_id).remove_output(output_id):
        raise api_error(404, "output_not_found", f"There is no output {output_id} of session {session_id}.")
    return Response(status_code=204)
