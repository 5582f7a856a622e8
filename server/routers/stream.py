"""``WS /sessions/stream``: a live session over one WebSocket (wire format: server/live/wire.py).

A wrong or missing token is refused before the upgrade, with the HTTP 401 every other route
answers. Other refusals come as one ``{"type": "error", "code": ..., "message": ...}`` message,
then the socket closes (1008 policy: bad request; 1013 try again later: no free slot). Nothing is
left behind: a refused request never holds a slot, and a session ends with its socket. A session
the server ends frees its slot first and then says goodbye with a short deadline: a peer that
stopped reading cannot hold the slot (or the socket) hostage.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.responses import JSONResponse

from xactor.engines.avatar.errors import AvatarError, AvatarNotFoundError, InvalidAvatarIdError
from xactor.server.auth import token_matches
from xactor.server.errors import validation_message
from xactor.server.live.manager import CapacityError, SessionManager
from xactor.server.live.options import OptionError
from xactor.server.live.wire import MAX_CONTROL_CHARS, MAX_REQUEST_CHARS, StreamRequest, WireError, read_json
from xactor.server.live.ws_session import StreamSession

log = logging.getLogger(__name__)

router = APIRouter(tags=["sessions"])

FIRST_MESSAGE_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 1.0  # for the close frame of a session the server ends; then the connection is cut
POLICY, TRY_LATER = 1008, 1013
UNAUTHORIZED = "Missing or wrong token: send 'Authorization: Bearer <token>' or ?token=<token>."


class Refused(Exception):
    def __init__(self, code: str, message: str, close_code: int = POLICY) -> None:
        super().__init__(message)
        self.code, self.message, self.close_code = code, message, close_code


def socket_token_ok(ws: WebSocket, expected: str | None) -> bool:
    """The server's token, as ``Authorization: Bearer`` or ``?token=`` (browsers cannot set headers
    on a WebSocket); the cluster's ingress checks it the same way."""
    if not expected:
        return True
    header = ws.headers.get("authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    given = given or ws.query_params.get("token", "")
    return token_matches(expected, given)


async def deny_socket(ws: WebSocket) -> None:
    """401 on the upgrade itself, in the API's error shape (the WebSocket denial response of ASGI);
    a server without that extension gets the older close 1008 instead."""
    body = {"detail": {"code": "unauthorized", "message": UNAUTHORIZED}}
    try:
        await ws.send_denial_response(JSONResponse(body, 401, {"WWW-Authenticate": "Bearer"}))
    except RuntimeError:  # no "websocket.http.response" extension
        await ws.close(POLICY, "unauthorized")


def _abort(ws: WebSocket) -> bool:
    """Cut the connection now, unsent bytes and all. ASGI has no such message; uvicorn hands the
    app its protocol's bound ``receive``, whose ``transport`` can. False where that is not so."""
    owner = getattr(ws._receive, "__self__", None)
    transport = getattr(owner, "transport", None)
    abort = getattr(transport, "abort", None)
    if abort is None:
        return False
    abort()
    return True


async def _hangup(ws: WebSocket, reason: str) -> None:
    """The close frame, if the peer takes it within :data:`CLOSE_TIMEOUT_S`; else cut the connection
    (a client that stopped reading has a full buffer, and the frame would wait behind it for ever)."""
    try:
        await asyncio.wait_for(ws.close(1000, reason[:120]), CLOSE_TIMEOUT_S)
    except TimeoutError:
        cut = _abort(ws)
        outcome = "connection cut" if cut else "left to the server's keepalive"
        log.info("stream socket: no room for the close frame within %g s; %s", CLOSE_TIMEOUT_S, outcome)


async def _open(ws: WebSocket, manager: SessionManager) -> StreamSession:
    """Read the first message and start the session, or raise :class:`Refused`."""
    try:
        first = await asyncio.wait_for(ws.receive_text(), FIRST_MESSAGE_TIMEOUT_S)
    except TimeoutError:
        raise Refused("bad_request", f"no session request within {FIRST_MESSAGE_TIMEOUT_S:g} s") from None
    except KeyError:  # a binary first message: Starlette finds no "text"
        raise Refused("bad_request", "the first message must be the session request as JSON text") from None
    try:
        request = StreamRequest.model_validate(read_json(first, MAX_REQUEST_CHARS))
        options = request.options.resolve(ws.app.state.settings)
    except WireError as exc:
        raise Refused(exc.code, f"session request: {exc}") from None
    except ValidationError as exc:
        raise Refused("invalid_request", validation_message(exc.errors())) from None
    except ValueError as exc:
        raise Refused("invalid_option", str(exc)) from None

    async def send(message: bytes | dict[str, Any]) -> None:
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_text(json.dumps(message))

    async def hangup(reason: str) -> None:
        await _hangup(ws, reason)

    try:
        async with manager.admit() as slot:  # the slot is given back on every way out
            bundle = await run_in_threadpool(ws.app.state.avatar_store.get, request.avatar_id)
            return await manager.open_stream(bundle, options, request, send, hangup, slot)
    except CapacityError as exc:
        raise Refused("too_many_sessions", str(exc), TRY_LATER) from None
    except (AvatarNotFoundError, InvalidAvatarIdError):
        raise Refused("avatar_not_found", f"There is no avatar with id {request.avatar_id}.") from None
    except AvatarError as exc:
        raise Refused(exc.code, exc.message) from None
    except OptionError as exc:
        raise Refused("invalid_option", str(exc)) from None


def _control(session: StreamSession, text: str) -> None:
    """A text message after the first: a control, or a warning back (never the end of the session)."""
    try:
        message = read_json(text, MAX_CONTROL_CHARS)
    except WireError as exc:
        session.warn(f"control message ignored: {exc}")
        return
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "clear_buffer":
        session.clear()
    elif kind == "end_of_segment":
        session.end_segment()
    else:
        session.warn(f"unknown control message {text[:80]!r}; expected clear_buffer or end_of_segment")


@router.websocket("/sessions/stream", name="stream_session")
async def stream_session(ws: WebSocket) -> None:
    manager: SessionManager = ws.app.state.sessions
    if not socket_token_ok(ws, ws.app.state.settings.token):
        await deny_socket(ws)
        return
    await ws.accept()
    try:
        session = await _open(ws, manager)
    except Refused as refused:
        manager.metrics.sessions_rejected.labels(refused.code).inc()
        log.info("stream session refused: %s", refused.message)
        await ws.send_text(json.dumps({"type": "error", "code": refused.code, "message": refused.message}))
        await ws.close(refused.close_code, refused.code)
        return
    except WebSocketDisconnect:
        return
    reason = "client disconnected"
    try:
        while not session.closed:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                session.push_pcm(message["bytes"])
            elif message.get("text") is not None:
                _control(session, message["text"])
    except WebSocketDisconnect:
        pass
    except Exception as exc:  # a broken socket: log it, end the session all the same
        reason = f"socket error: {type(exc).__name__}: {exc}"
        log.warning("stream session %s: %s", session.id, reason)
    finally:
        await session.close(session.close_reason or reason)
