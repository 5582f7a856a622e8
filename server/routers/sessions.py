"""/sessions: start a live session from a WebRTC offer, list them with live stats, end one.

Errors answer ``{"detail": {"code": ..., "message": ...}}`` like /avatars: 400 unusable offer,
404 unknown avatar or session, 503 (with Retry-After) when every session slot is taken, 401 when a
token is configured and not given.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from aiortc import RTCSessionDescription
from aiortc.sdp import SessionDescription
from fastapi import APIRouter, Body, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from engines.avatar.errors import AvatarError, AvatarNotFoundError, InvalidAvatarIdError
from server.auth import TokenRequired
from server.live.manager import CapacityError, SessionManager
from server.live.options import ResolvedOptions, SessionOptions
from server.live.session import OfferError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/sessions", tags=["sessions"], dependencies=[TokenRequired])

MAX_SDP_CHARS = 64_000


class OfferIn(BaseModel):
    """A browser's offer: it must send audio (the mic) and receive video."""

    sdp: str = Field(max_length=MAX_SDP_CHARS, description="SDP of the offer")
    type: Literal["offer"] = "offer"
    avatar_id: str = Field("default", description="Avatar to animate ('default' for the bundled one)")
    options: SessionOptions = Field(default_factory=SessionOptions)


class AnswerOut(BaseModel):
    session_id: str
    sdp: str
    type: str
    avatar_id: str
    codec: str | None
    options: ResolvedOptions


def _error(status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code, detail={"code": code, "message": message}, headers=headers)


def check_offer(sdp: str) -> None:
    """Raise :class:`OfferError` unless ``sdp`` parses and has audio to send us and video to receive."""
    try:
        desc = SessionDescription.parse(sdp)
    except Exception as exc:
        raise OfferError(f"malformed SDP ({type(exc).__name__}: {exc})") from exc
    if not desc.media:
        raise OfferError("malformed SDP: no media sections")
    audio = [m for m in desc.media if m.kind == "audio" and m.direction in (None, "sendrecv", "sendonly")]
    video = [m for m in desc.media if m.kind == "video" and m.direction in (None, "sendrecv", "recvonly")]
    if not audio:
        raise OfferError("the offer sends no audio: add the microphone track")
    if not video:
        raise OfferError("the offer receives no video: add a recvonly video transceiver")
    for m in desc.media:
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            raise OfferError("malformed SDP: a media section lacks ICE credentials")


def _manager(request: Request) -> SessionManager:
    manager: SessionManager = request.app.state.sessions
    return manager


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AnswerOut,
    summary="Start a live session (WebRTC offer in, answer out)",
    responses={400: {}, 401: {}, 404: {}, 503: {"description": "Session limit reached; see Retry-After"}},
)
async def create_session(request: Request, offer: Annotated[OfferIn, Body()]) -> AnswerOut:
    manager = _manager(request)
    try:
        options = offer.options.resolve(request.app.state.settings)
    except ValueError as exc:  # a stage that cannot run on the chosen backend
        raise _error(422, "invalid_option", str(exc)) from None
    await manager.wait_measured()
    try:
        manager.reserve()
    except CapacityError as exc:
        raise _error(503, "too_many_sessions", str(exc), {"Retry-After": str(exc.retry_after)}) from None
    try:
        check_offer(offer.sdp)
        store = request.app.state.avatar_store
        bundle = await run_in_threadpool(store.get, offer.avatar_id)
    except OfferError as exc:
        manager.release()
        manager.metrics.sessions_rejected.labels("bad_offer").inc()
        raise _error(400, "bad_offer", str(exc)) from None
    except (AvatarNotFoundError, InvalidAvatarIdError):
        manager.release()
        manager.metrics.sessions_rejected.labels("unknown_avatar").inc()
        raise _error(404, "avatar_not_found", f"There is no avatar with id {offer.avatar_id}.") from None
    except AvatarError as exc:
        manager.release()
        raise _error(exc.status, exc.code, exc.message) from None
    except BaseException:
        manager.release()
        raise
    try:
        session, answer = await manager.open(
            RTCSessionDescription(sdp=offer.sdp, type="offer"), bundle, options
        )
    except OfferError as exc:
        manager.metrics.sessions_rejected.labels("bad_offer").inc()
        raise _error(400, "bad_offer", str(exc)) from None
    return AnswerOut(
        session_id=session.id,
        sdp=answer.sdp,
        type=answer.type,
        avatar_id=session.avatar_id,
        codec=session.codec,
        options=options,
    )


@router.get("", summary="Open sessions with live stats")
def list_sessions(request: Request) -> list[dict[str, Any]]:
    return _manager(request).stats()


@router.get("/{session_id}", summary="One session's live stats")
def get_session(request: Request, session_id: str) -> dict[str, Any]:
    session = _manager(request).get(session_id)
    if session is None:
        raise _error(404, "session_not_found", f"There is no session {session_id}.")
    return session.stats()


@router.delete(
    "/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, summary="End a session"
)
async def delete_session(request: Request, session_id: str) -> Response:
    if not await _manager(request).close(session_id):
        raise _error(404, "session_not_found", f"There is no session {session_id}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
