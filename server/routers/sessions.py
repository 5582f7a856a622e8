"""/sessions: start a live session from a WebRTC offer, list them with live stats, end one.

Errors answer ``{"detail": {"code": ..., "message": ...}}`` (server/errors.py): 400 unusable offer
or unparseable body, 404 unknown avatar or session, 422 invalid request, 503 (with Retry-After)
when every session slot is taken, 401 when a token is configured and not given.
"""

from __future__ import annotations

import logging
import subprocess
from typing import Annotated, Any, Literal

from aiortc import RTCSessionDescription
from fastapi import APIRouter, Body, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from xactor.engines import timebase
from xactor.engines.audio.tts import MAX_TEXT_CHARS, TtsUnavailableError, speak
from xactor.engines.avatar.errors import AvatarNotFoundError, InvalidAvatarIdError
from xactor.server.auth import TokenRequired
from xactor.server.errors import BAD_REQUEST, ErrorDoc, api_error, error_responses
from xactor.server.live.manager import CapacityError, SessionManager
from xactor.server.live.options import OptionError, ResolvedOptions, SessionOptions
from xactor.server.live.sdp import OfferError, check_offer
from xactor.server.routers.avatars import (
    AVATAR_ID_PATTERN,
    AVATAR_NOT_FOUND,
    INCOMPATIBLE_BUNDLE,
    MAX_AVATAR_ID_CHARS,
)

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/sessions", tags=["sessions"], dependencies=[TokenRequired], responses=error_responses(401)
)

MAX_SDP_CHARS = 64_000
MAX_SESSION_ID_CHARS = 64

BAD_OFFER = ErrorDoc(
    400,
    "bad_offer",
    "The offer cannot be answered: malformed SDP, control characters, no audio sent, no video received, "
    "no DTLS fingerprint, a missing or repeated mid or one outside the BUNDLE group, a section with port 0, "
    "a section with no codec we support (video: neither H.264 nor VP8), an extmap id outside 1-14 "
    "(1-255 with a=extmap-allow-mixed)",
    "the offer sends no audio: add the microphone track",
)
TOO_MANY_SESSIONS = ErrorDoc(
    503,
    "too_many_sessions",
    "Every live session slot is taken; retry after Retry-After seconds",
    "all 4 live sessions are in use; retry in 5 s",
    headers=(("Retry-After", "Seconds to wait before trying again"),),
)
INVALID_OPTION = ErrorDoc(
    422,
    "invalid_option",
    "The chosen stages cannot run on the chosen backend",
    "motion source 'generator' has no tensorrt backend; it runs on: onnxruntime, torch",
)
SESSION_NOT_FOUND = ErrorDoc(
    404, "session_not_found", "No open session with that id", "There is no session 0123456789abcdef."
)

SessionId = Annotated[str, Path(max_length=MAX_SESSION_ID_CHARS, description="Id from the POST answer")]


class OfferIn(BaseModel):
    """A browser's offer: it must send audio (the mic) and receive video. Unknown fields are
    refused (422 naming them): a misspelt option must not pass unnoticed."""

    model_config = ConfigDict(extra="forbid")

    sdp: str = Field(max_length=MAX_SDP_CHARS, description="SDP of the offer")
    type: Literal["offer"] = "offer"
    avatar_id: str = Field(
        "default",
        max_length=MAX_AVATAR_ID_CHARS,
        pattern=AVATAR_ID_PATTERN,
        description="Avatar to animate: an id from GET /avatars, or 'default' for the bundled one",
    )
    options: SessionOptions = Field(default_factory=SessionOptions)


class AnswerOut(BaseModel):
    session_id: str
    sdp: str
    type: str
    avatar_id: str
    codec: str | None
    options: ResolvedOptions


def _manager(request: Request) -> SessionManager:
    manager: SessionManager = request.app.state.sessions
    return manager


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AnswerOut,
    summary="Start a live session (WebRTC offer in, answer out)",
    responses=error_responses(
        BAD_OFFER, BAD_REQUEST, AVATAR_NOT_FOUND, INCOMPATIBLE_BUNDLE, 422, INVALID_OPTION, TOO_MANY_SESSIONS
    ),
)
async def create_session(request: Request, offer: Annotated[OfferIn, Body()]) -> AnswerOut:
    manager = _manager(request)
    try:
        options = offer.options.resolve(request.app.state.settings)
    except ValueError as exc:  # a stage that cannot run on the chosen backend
        raise api_error(422, "invalid_option", str(exc)) from None
    try:
        check_offer(offer.sdp)  # before any slot or session: a bad offer costs nothing
    except OfferError as exc:
        manager.metrics.sessions_rejected.labels("bad_offer").inc()
        raise api_error(400, "bad_offer", str(exc)) from None
    store = request.app.state.avatar_store
    try:
        async with manager.admit() as slot:  # the slot is given back on every way out
            bundle = await run_in_threadpool(store.get, offer.avatar_id)  # other AvatarErrors: the handler
            session, answer = await manager.open(
                RTCSessionDescription(sdp=offer.sdp, type="offer"), bundle, options, slot
            )
    except CapacityError as exc:
        raise api_error(503, "too_many_sessions", str(exc), {"Retry-After": str(exc.retry_after)}) from None
    except (AvatarNotFoundError, InvalidAvatarIdError):
        manager.metrics.sessions_rejected.labels("unknown_avatar").inc()
        raise api_error(404, "avatar_not_found", f"There is no avatar with id {offer.avatar_id}.") from None
    except OfferError as exc:
        manager.metrics.sessions_rejected.labels("bad_offer").inc()
        raise api_error(400, "bad_offer", str(exc)) from None
    except OptionError as exc:  # e.g. a resolution the avatar is not prepared at
        manager.metrics.sessions_rejected.labels("bad_option").inc()
        raise api_error(422, "invalid_option", str(exc)) from None
    return AnswerOut(
        session_id=session.id,
        sdp=answer.sdp,
        type=answer.type,
        avatar_id=session.avatar_id,
        codec=session.codec,
        options=options,
    )


# async, not def: the session table changes on the event loop (sessions open and close there), so
# reading it from a worker thread can fail with "dictionary changed size during iteration".
@router.get("", summary="Open sessions with live stats")
async def list_sessions(request: Request) -> list[dict[str, Any]]:
    return _manager(request).stats()


@router.get(
    "/{session_id}", summary="One session's live stats", responses=error_responses(SESSION_NOT_FOUND, 422)
)
async def get_session(request: Request, session_id: SessionId) -> dict[str, Any]:
    session = _manager(request).get(session_id)
    if session is None:
        raise api_error(404, "session_not_found", f"There is no session {session_id}.")
    return session.stats()


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="End a session",
    responses=error_responses(SESSION_NOT_FOUND, 422),
)
async def delete_session(request: Request, session_id: SessionId) -> Response:
    if not await _manager(request).close(session_id):
        raise api_error(404, "session_not_found", f"There is no session {session_id}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


VOICE_PATTERN = r"^[a-z]{2,3}(-[a-z0-9]{2,8})*(\+[a-z0-9]+)?$"  # no paths, no options
MAX_VOICE_CHARS = 64


class SayIn(BaseModel):
    """Text for the session's avatar to speak with the server's TTS (espeak-ng)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="What to say")
    voice: str = Field(
        "en-us", max_length=MAX_VOICE_CHARS, pattern=VOICE_PATTERN, description="espeak-ng voice"
    )
    words_per_minute: int = Field(160, ge=80, le=450)


class SayOut(BaseModel):
    session_id: str
    duration_s: float = Field(description="Length of the speech queued")
    segment: int | None = Field(
        description="Its segment on a WebSocket session (a segment_end event follows when it has been shown)"
    )


TTS_UNAVAILABLE = ErrorDoc(
    503,
    "tts_unavailable",
    "This server has no TTS (espeak-ng is not installed)",
    "espeak-ng is not installed",
)

INVALID_VOICE = ErrorDoc(
    422, "invalid_voice", "espeak-ng has no such voice", "espeak-ng refused voice 'xx': ..."
)


class ClearOut(BaseModel):
    session_id: str
    dropped_s: float = Field(description="Seconds of queued speech dropped")


@router.post(
    "/{session_id}/clear",
    response_model=ClearOut,
    summary="Interrupt: drop the speech queued for the avatar and close its mouth on the next frame",
    responses=error_responses(SESSION_NOT_FOUND, 422),
)
async def clear(request: Request, session_id: SessionId) -> ClearOut:
    """On a WebSocket session, what the client pushed or ``say`` queued (as its ``clear_buffer``
    control does; the client gets its ``cleared`` event); on a browser session, the ``say``
    speech not yet played (the microphone goes on)."""
    session = _manager(request).get(session_id)
    if session is None or session.closed:
        raise api_error(404, "session_not_found", f"There is no session {session_id}.")
    return ClearOut(session_id=session_id, dropped_s=round(session.clear(), 3))


@router.post(
    "/{session_id}/say",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SayOut,
    summary="Presenter mode: the avatar speaks text (server TTS, synced return audio)",
    responses=error_responses(SESSION_NOT_FOUND, 422, INVALID_VOICE, TTS_UNAVAILABLE),
)
async def say(request: Request, session_id: SessionId, body: Annotated[SayIn, Body()]) -> SayOut:
    try:  # before the session lookup: a voice that cannot speak is wrong for any session
        speech = await run_in_threadpool(speak, body.text, body.voice, body.words_per_minute)
    except TtsUnavailableError as exc:
        raise api_error(503, "tts_unavailable", str(exc)) from None
    except subprocess.CalledProcessError as exc:  # e.g. a voice espeak-ng does not have
        detail = (exc.stderr or b"").decode(errors="replace").strip() or f"exit status {exc.returncode}"
        raise api_error(422, "invalid_voice", f"espeak-ng refused voice {body.voice!r}: {detail}") from None
    session = _manager(request).get(session_id)
    if session is None or session.closed:
        raise api_error(404, "session_not_found", f"There is no session {session_id}.")
    segment = session.say(speech)
    return SayOut(
        session_id=session_id, duration_s=round(speech.size / timebase.SAMPLE_RATE, 3), segment=segment
    )
