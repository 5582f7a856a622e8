"""WHEP playback of a live session (the conventions of RFC 9725, mirrored for egress).

``POST /sessions/{id}/whep`` with an SDP offer (``application/sdp``) answers ``201 Created`` with
the SDP answer and a ``Location`` for the viewer; ``DELETE`` on that location ends it; ``OPTIONS``
answers CORS preflights (browsers and OBS pages on other origins). No trickle ICE: the answer
carries every candidate. Any number of viewers share one encode (server/live/whep.py).

A viewer's offer gets the checks of ``POST /sessions`` (server/live/sdp.py, role ``viewer``: it
receives video, and audio if it likes, and sends nothing); a viewer whose connection is not up
``connect_timeout_s`` after the answer is closed and its slot freed, as a session would be.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from xactor.server.auth import TokenRequired
from xactor.server.errors import ErrorDoc, api_error, error_responses
from xactor.server.live.manager import SessionManager
from xactor.server.live.sdp import OfferError, check_offer
from xactor.server.live.whep import TooManyViewersError, ViewerError
from xactor.server.routers.sessions import MAX_SDP_CHARS, MAX_SESSION_ID_CHARS, SESSION_NOT_FOUND

log = logging.getLogger(__name__)

router = APIRouter(prefix="/sessions", tags=["whep"])

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Expose-Headers": "Location",
}
SDP = "application/sdp"

SessionId = Annotated[str, Path(max_length=MAX_SESSION_ID_CHARS, description="The session to watch")]
ViewerId = Annotated[str, Path(max_length=MAX_SESSION_ID_CHARS, description="From the POST's Location")]

BAD_VIEWER_OFFER = ErrorDoc(
    400,
    "bad_offer",
    "The viewer's offer fails the checks of POST /sessions (SDP, ICE, DTLS, mids, BUNDLE, ports, codecs, "
    "extmap ids), sends media (a viewer only receives) or cannot receive the session's codec",
    "media section 1 (video) is sendonly: a viewer only receives; make its transceivers recvonly",
)
NOT_SDP = ErrorDoc(
    415, "unsupported_media_type", "The body must be application/sdp", "send Content-Type: ..."
)
TOO_MANY_VIEWERS = ErrorDoc(503, "too_many_viewers", "The session has its most viewers", "16 viewers")
VIEWER_NOT_FOUND = ErrorDoc(
    404, "viewer_not_found", "No such viewer of this session", "There is no viewer ..."
)


def _manager(request: Request) -> SessionManager:
    manager: SessionManager = request.app.state.sessions
    return manager


@router.options("/{session_id}/whep", include_in_schema=False)
@router.options("/{session_id}/whep/{viewer_id}", include_in_schema=False)
async def preflight() -> Response:
    return Response(status_code=204, headers={**CORS, "Accept-Post": SDP})


@router.post(
    "/{session_id}/whep",
    status_code=status.HTTP_201_CREATED,
    summary="Watch a session (WHEP): SDP offer in, SDP answer out",
    dependencies=[TokenRequired],
    response_class=Response,
    responses={
        201: {
            "description": "The SDP answer; Location names the viewer (DELETE it to leave)",
            "content": {SDP: {"schema": {"type": "string"}}},
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **error_responses(401, BAD_VIEWER_OFFER, SESSION_NOT_FOUND, NOT_SDP, 422, TOO_MANY_VIEWERS),
    },
    openapi_extra={"requestBody": {"required": True, "content": {SDP: {"schema": {"type": "string"}}}}},
)
async def watch(request: Request, session_id: SessionId) -> Response:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != SDP:
        raise api_error(415, "unsupported_media_type", "send the offer as Content-Type: application/sdp")
    body = await request.body()
    if len(body) > MAX_SDP_CHARS:
        raise api_error(400, "bad_offer", f"the offer is over {MAX_SDP_CHARS} bytes")
    try:
        offer = body.decode("utf-8")
    except UnicodeDecodeError:
        raise api_error(400, "bad_offer", "the offer is not UTF-8 text") from None
    try:
        check_offer(offer, role="viewer")  # the same checks as POST /sessions, for a receiver
    except OfferError as exc:
        raise api_error(400, "bad_offer", str(exc)) from None
    manager = _manager(request)
    session = manager.get(session_id)
    if session is None or session.closed:
        raise api_error(404, "session_not_found", f"There is no session {session_id}.")
    try:
        viewer, answer = await session.add_viewer(offer, manager.settings)
    except TooManyViewersError as exc:
        raise api_error(503, "too_many_viewers", str(exc)) from None
    except ViewerError as exc:
        raise api_error(400, "bad_offer", str(exc)) from None
    location = f"/sessions/{session.id}/whep/{viewer.id}"
    return Response(answer, status_code=201, media_type=SDP, headers={**CORS, "Location": location})


@router.delete(
    "/{session_id}/whep/{viewer_id}",
    summary="Stop watching (WHEP)",
    dependencies=[TokenRequired],
    response_class=Response,
    responses={200: {"description": "The viewer is gone"}, **error_responses(401, VIEWER_NOT_FOUND, 422)},
)
async def leave(request: Request, session_id: SessionId, viewer_id: ViewerId) -> Response:
    session = _manager(request).get(session_id)
    if session is None or not await session.remove_viewer(viewer_id):
        raise api_error(404, "viewer_not_found", f"There is no viewer {viewer_id} of session {session_id}.")
    return Response(status_code=200, headers=CORS)
