"""``WS /sessions/stream``: a live session over one WebSocket (wire format: server/live/wire.py).

Refusals come as one ``{"type": "error", "code": ..., "message": ...}`` message, then the socket
closes (1008 policy: bad request or token; 1013 try again later: no free slot). Nothing is left
behind: a refused request never holds a slot, and a session ends with its socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from engines.avatar.errors import AvatarError, AvatarNotFoundError, InvalidAvatarIdError
from server.auth import token_matches
from server.errors import validation_message
from server.live.manager import CapacityError, SessionManager
from server.live.options import OptionError
from server.live.wire import StreamRequest
from server.live.ws_session import StreamSession

log = logging.getLogger(__name__)

router = APIRouter(tags=["sessions"])

FIRST_MESSAGE_TIMEOUT_S = 10.0
POLICY, TRY_LATER = 1008, 1013


class Refused(Exception):
    def __init__(self, code: str, message: str, close_code: int = POLICY) -> None:
        super().__init__(message)
        self.code, self.message, self.close_code = code, message, close_code


def _token_ok(ws: WebSocket) -> bool:
    """The server's token, as ``Authorization: Bearer`` or ``?token=`` (browsers cannot set headers
    on a WebSocket)."""
    expected: str | None = ws.app.state.settings.token
    if not expected:
        return True
    header = ws.headers.get("authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    given = given or ws.query_params.get("token", "")
    return token_matches(expected, given)


async def _open(ws: WebSocket, manager: SessionManager) -> StreamSession:
    """Read the first message and start the session, or raise :class:`Refused`."""
    try:
        first = await asyncio.wait_for(ws.receive_text(), FIRST_MESSAGE_TIMEOUT_S)
    except TimeoutError:
        raise Refused("bad_request", f"no session request within {FIRST_MESSAGE_TIMEOUT_S:g} s") from None
    except KeyError:  # a binary first message: Starlette finds no "text"
        raise Refused("bad_request", "the first message must be the session request as JSON text") from None
    try:
        request = StreamRequest.model_validate_json(first)
        options = request.options.resolve(ws.app.state.settings)
    except ValidationError as exc:
        raise Refused("invalid_request", validation_message(exc.errors())) from None
    except ValueError as exc:
        raise Refused("invalid_option", str(exc)) from None
    await manager.wait_measured()
    try:
        manager.reserve()
    except CapacityError as exc:
        raise Refused("too_many_sessions", str(exc), TRY_LATER) from None
    try:
        bundle = await run_in_threadpool(ws.app.state.avatar_store.get, request.avatar_id)
    except (AvatarNotFoundError, InvalidAvatarIdError):
        manager.release()
        raise Refused("avatar_not_found", f"There is no avatar with id {request.avatar_id}.") from None
    except AvatarError as exc:
        manager.release()
        raise Refused(exc.code, exc.message) from None
    except BaseException:
        manager.release()
        raise

    async def send(message: bytes | dict[str, Any]) -> None:
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_text(json.dumps(message))

    async def hangup(reason: str) -> None:
        await ws.close(1000, reason[:120])

    try:
        return await manager.open_stream(bundle, options, request, send, hangup)
    except OptionError as exc:
        raise Refused("invalid_option", str(exc)) from None


def _control(session: StreamSession, text: str) -> None:
    """A text message after the first: a control, or a warning back."""
    try:
        kind = json.loads(text).get("type")
    except (ValueError, AttributeError):
        kind = None
    if kind == "clear_buffer":
        session.clear()
    elif kind == "end_of_segment":
        session.end_segment()
    else:
        session.warn(f"unknown control message {text[:80]!r}; expected clear_buffer or end_of_segment")


@router.websocket("/sessions/stream", name="stream_session")
async def stream_session(ws: WebSocket) -> None:
    manager: SessionManager = ws.app.state.sessions
    if not _token_ok(ws):
        await ws.close(POLICY, "unauthorized: send 'Authorization: Bearer <token>' or ?token=")
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
