"""Run requests and WebSocket sessions against an in-process ASGI app, from plain messages.

A worker replica hosts the whole single-process app (its sessions, peer connections, caches and
render worker live in the replica's process, on the replica's event loop). The ingress hands it
each request as an :class:`~.calls.HttpCall`, and each WebSocket as a stream of ASGI messages,
so every route behaves exactly as in ``xactor serve``. No Ray here: this is testable alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from xactor.server.cluster.calls import HttpCall, HttpReply, SocketFeed, SocketOpen

log = logging.getLogger(__name__)

ASGI = dict[str, Any]
SOCKET_END_S = 5.0  # for the app to finish a socket session once the client is gone


def _headers(pairs: tuple[tuple[str, str], ...]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs]


class AsgiTunnel:
    """The app's HTTP and WebSocket entry for one replica (``tag`` names it in every answer)."""

    def __init__(self, app: Any, tag: str) -> None:
        self.app = app
        self.tag = tag
        self._sockets: dict[str, asyncio.Queue[ASGI]] = {}
        self._lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None

    # ---- lifespan -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Run the app's start-up (render worker, watchdog, capacity measurement)."""
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()

    async def stop(self) -> None:
        """Run the app's shutdown: every session closed, the render worker stopped."""
        if self._lifespan is not None:
            lifespan, self._lifespan = self._lifespan, None
            await lifespan.__aexit__(None, None, None)

    # ---- HTTP -----------------------------------------------------------------------------------
    async def http(self, call: HttpCall) -> HttpReply:
        """One request through the app; the whole answer comes back (the API's bodies are small)."""
        scope: ASGI = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": call.method,
            "scheme": "http",
            "path": call.path,
            "raw_path": call.path.encode(),
            "query_string": call.query.encode("latin-1"),
            "root_path": "",
            "headers": _headers(call.headers),
            "client": call.client,
            "server": ("xactor-worker", 80),
        }
        answered = asyncio.Event()
        body_sent = False

        async def receive() -> ASGI:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": call.body, "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        status = 500
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def send(message: ASGI) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                raw = message.get("headers", [])
                headers.extend((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    answered.set()

        try:
            await self.app(scope, receive, send)
        finally:
            answered.set()
        return HttpReply(status, tuple(headers), b"".join(chunks), self.tag)

    # ---- WebSocket ------------------------------------------------------------------------------
    async def socket(self, opening: SocketOpen) -> AsyncIterator[ASGI]:
        """Run one WebSocket session: yields the app's messages (``websocket.accept``, ``.send``,
        ``.close``) after a first ``{"type": "tunnel.open", "replica": tag}``; client messages come
        in through :meth:`feed`. Ends when the app closes the socket or finishes."""
        inbound: asyncio.Queue[ASGI] = asyncio.Queue()
        outbound: asyncio.Queue[ASGI | None] = asyncio.Queue()
        inbound.put_nowait({"type": "websocket.connect"})
        self._sockets[opening.key] = inbound
        scope: ASGI = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "path": opening.path,
            "raw_path": opening.path.encode(),
            "query_string": opening.query.encode("latin-1"),
            "root_path": "",
            "headers": _headers(opening.headers),
            "client": opening.client,
            "server": ("xactor-worker", 80),
            "subprotocols": list(opening.subprotocols),
        }

        async def run() -> None:
            try:
                await self.app(scope, inbound.get, outbound.put)
            except Exception:
                log.exception("socket %s: the app failed", opening.key)
            finally:
                outbound.put_nowait(None)

        task = asyncio.create_task(run(), name=f"tunnel-socket-{opening.key}")
        try:
            yield {"type": "tunnel.open", "replica": self.tag}
            while (message := await outbound.get()) is not None:
                yield message
                if message["type"] == "websocket.close":
                    break
        finally:
            self._sockets.pop(opening.key, None)
            inbound.put_nowait({"type": "websocket.disconnect", "code": 1001})
            try:
                await asyncio.wait_for(asyncio.shield(task), SOCKET_END_S)
            except TimeoutError:
                task.cancel()
            except asyncio.CancelledError:
                task.cancel()
                raise

    def feed(self, feed: SocketFeed) -> bool:
        """Client messages for an open socket, in order; False if it is not open here (any more)."""
        inbound = self._sockets.get(feed.key)
        if inbound is None:
            return False
        for message in feed.messages:
            inbound.put_nowait(message)
        return True

    @property
    def sockets(self) -> int:
        return len(self._sockets)
