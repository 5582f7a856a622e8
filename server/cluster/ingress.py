"""The ingress deployment: the same HTTP and WebSocket API as ``xactor serve``, in front of the
worker replicas.

Every request is forwarded, whole, to one worker (placed or pinned by :mod:`.router`), whose
in-process app answers it as the single process would; the media of a WebRTC session never comes
here. The ingress answers four things itself: ``/health`` (every replica, with its sessions and
slots), ``/ready`` (200 once any replica has warmed up), ``GET /sessions`` (every replica's sessions)
and ``/metrics`` (every replica's series, labelled ``replica``). A new session refused as full by
one replica is offered to the next.
"""

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from ray.exceptions import RayActorError
from ray.serve.exceptions import RequestCancelledError
from ray.serve.handle import DeploymentHandle

from xactor.server import __version__
from xactor.server.cluster.calls import HttpCall, HttpReply, Route, SocketFeed, SocketOpen, route_for
from xactor.server.cluster.known import known_replicas
from xactor.server.cluster.worker import gone_reply
from xactor.server.routers.stream import deny_socket, socket_token_ok

log = logging.getLogger(__name__)

HOP_HEADERS = frozenset({"transfer-encoding", "connection", "keep-alive", "upgrade"})
FULL_CODE = "too_many_sessions"
FORWARDED_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


def _fresh_request_id() -> None:
    """Give the next handle call its own id. Serve hands calls made while serving a request that
    request's internal id, and its router matches a chosen replica to a waiting call by that id:
    two concurrent calls from one request (the fan-out of /health) would collide, one never sent."""
    from ray.serve import context

    current = context._get_serve_request_context()
    fresh = dataclasses.replace(current, _internal_request_id=uuid.uuid4().hex)
    context._serve_request_context.set(fresh)  # type: ignore[arg-type]


def remote(worker: DeploymentHandle, method: str, arg: Any, stream: bool = False) -> Any:
    """``worker.<method>.remote(arg)`` with an id of its own (see :func:`_fresh_request_id`)."""
    _fresh_request_id()
    handle = worker.options(stream=True) if stream else worker
    return getattr(handle, method).remote(arg)


def unavailable_reply() -> HttpReply:
    """503 in the API's shape, for a request whose worker died under it (retry: it goes elsewhere)."""
    from xactor.server.errors import ErrorDetail, ErrorResponse

    detail = ErrorDetail(code="worker_lost", message="The worker handling this request stopped; retry.")
    body = ErrorResponse(detail=detail).model_dump_json().encode()
    return HttpReply(503, (("content-type", "application/json"), ("retry-after", "1")), body, "ingress")


def _pairs(headers: Any) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in headers.items())


def _client(request: Request | WebSocket) -> tuple[str, int] | None:
    return (request.client.host, request.client.port) if request.client else None


def refused_as_full(reply: HttpReply) -> bool:
    """A 503 for want of a free slot (another replica may have one), not any other refusal."""
    if reply.status != 503:
        return False
    try:
        return json.loads(reply.body)["detail"]["code"] == FULL_CODE
    except (ValueError, KeyError, TypeError):
        return False


def merge_metrics(texts: dict[str, str]) -> bytes:
    """Every replica's Prometheus text as one exposition, each sample labelled with its replica."""
    families: dict[str, Any] = {}
    for tag, text in texts.items():
        for family in text_string_to_metric_families(text):
            merged = families.setdefault(family.name, family)
            samples = [s._replace(labels={**s.labels, "replica": tag}) for s in family.samples]
            if merged is family:
                family.samples = samples
            else:
                merged.samples.extend(samples)

    class _Merged:
        def collect(self) -> Any:
            return iter(families.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())
    return generate_latest(registry)


class IngressCore:
    """What the ingress does; :func:`ingress_class` puts it behind FastAPI routes."""

    def __init__(self, worker: DeploymentHandle, token: str | None = None) -> None:
        self.worker = worker
        self.token = token

    # ---- helpers ------------------------------------------------------------------------------
    async def _call(self, call: HttpCall) -> HttpReply:
        try:
            reply: HttpReply = await remote(self.worker, "http", call)
        except RayActorError:
            # The replica died with the call in flight (its node is gone): its sessions went with it.
            log.warning("worker died during %s %s", call.method, call.path)
            if call.route.owner is not None:
                return gone_reply("ingress", call.route.owner)
            return unavailable_reply()
        return reply

    async def _place(self, call: HttpCall) -> HttpReply:
        """A new session: the freest replica; one that turns out full is skipped for the next."""
        tried: list[str] = []
        while True:
            reply = await self._call(dataclasses.replace(call, route=Route(place=True, exclude=tuple(tried))))
            if not refused_as_full(reply) or reply.replica in tried:
                return reply
            tried.append(reply.replica)
            if len(tried) >= max(len(known_replicas()), 1):
                return reply

    async def _every_replica(self, method: str, path: str, request: Request) -> dict[str, HttpReply]:
        """The same request on every replica the router knows (by tag)."""
        tags: list[str | None] = [tag for tag, _ in known_replicas()] or [None]
        client = _client(request)
        calls = [
            HttpCall(Route(owner=tag), method, path, request.url.query, _pairs(request.headers), b"", client)
            for tag in tags
        ]
        replies = await asyncio.gather(*(self._call(c) for c in calls), return_exceptions=True)
        # A replica that went away meanwhile is answered for by another ("gone"): not its answer.
        return {r.replica: r for r in replies if isinstance(r, HttpReply) and r.status != 410}

    async def replicas(self) -> list[dict[str, Any]]:
        """Every replica's row (fresh), in tag order."""
        tags = [tag for tag, _ in known_replicas()]
        if not tags:  # the handle has not routed yet: one call brings the router up
            rows = [await remote(self.worker, "describe", None)]
            tags = [tag for tag, _ in known_replicas()]
        else:
            rows = []
        asked = await asyncio.gather(
            *(remote(self.worker, "describe", Route(owner=tag)) for tag in tags), return_exceptions=True
        )
        rows += [row for row in asked if isinstance(row, dict)]
        unique = {row["tag"]: row for row in rows}
        return [unique[tag] for tag in sorted(unique)]

    @staticmethod
    def _response(reply: HttpReply) -> Response:
        headers = {k: v for k, v in reply.headers if k.lower() not in HOP_HEADERS}
        return Response(reply.body, reply.status, headers=headers)

    # ---- routes it answers itself -------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        rows = await self.replicas()
        return {
            "status": "ok" if rows else "no_workers",
            "version": __version__,
            "sessions": sum(r["sessions"] for r in rows),
            "max_sessions": sum(r["limit"] for r in rows),
            "free": sum(r["free"] for r in rows),
            "replicas": rows,
        }

    async def ready(self) -> Response:
        """The cluster is ready once one replica is, as the router sees it too (its routing stats
        arrive a poll later than a replica's own answer, and placement goes by them): new sessions
        then go to a warmed-up replica. Before that, the single process's 503 ``warming_up``."""
        from xactor.server.routers.health import WARMING_UP

        rows = await self.replicas()
        seen = dict(known_replicas())
        warm = [r for r in rows if r.get("ready") and seen.get(r["tag"], {}).get("ready")]
        if not warm:
            body = json.dumps(WARMING_UP.body())
            return Response(body, 503, {"Retry-After": "1"}, media_type="application/json")
        answer = {
            "ready": True,
            "capacity_measured": all(r.get("frame_ms") is not None for r in warm),
            "replicas_ready": len(warm),
            "replicas": len(rows),
        }
        return Response(json.dumps(answer), 200, media_type="application/json")

    async def list_sessions(self, request: Request) -> Response:
        replies = await self._every_replica("GET", "/sessions", request)
        failed = [r for r in replies.values() if r.status != 200]
        if failed:
            return self._response(failed[0])
        rows = [row for r in replies.values() for row in json.loads(r.body)]
        return Response(json.dumps(rows), 200, media_type="application/json")

    async def metrics(self, request: Request) -> Response:
        replies = await self._every_replica("GET", "/metrics", request)
        failed = [r for r in replies.values() if r.status != 200]
        if failed:
            return self._response(failed[0])
        text = merge_metrics({tag: r.body.decode() for tag, r in replies.items()})
        return Response(text, 200, media_type="text/plain; version=0.0.4; charset=utf-8")

    # ---- everything else: forwarded -----------------------------------------------------------
    async def stream(self, ws: WebSocket) -> None:
        if not socket_token_ok(ws, self.token):
            await deny_socket(ws)
            return
        await SocketRelay(self.worker, ws).run()

    async def forward(self, request: Request) -> Response:
        route = route_for(request.method, request.url.path)
        call = HttpCall(
            route,
            request.method,
            request.url.path,
            request.url.query,
            _pairs(request.headers),
            await request.body(),
            _client(request),
        )
        reply = await (self._place(call) if route.place else self._call(call))
        return self._response(reply)


def ingress_class() -> type:
    """The Serve ingress class with its FastAPI app. Built in a function, not at module level:
    Ray pickles a module-level app by reference, and the replica would import the app *before*
    ``serve.ingress`` bound its routes to the class."""
    from ray import serve

    # The worker's app serves the API's own /openapi.json and /docs (forwarded like every route).
    app = FastAPI(title="xactor (cluster ingress)", openapi_url=None, docs_url=None, redoc_url=None)

    class Ingress(IngressCore):
        @app.get("/health", include_in_schema=False)
        async def health_route(self) -> dict[str, Any]:
            return await self.health()

        @app.get("/ready", include_in_schema=False)
        async def ready_route(self) -> Response:
            return await self.ready()

        @app.get("/sessions", include_in_schema=False)
        async def sessions_route(self, request: Request) -> Response:
            return await self.list_sessions(request)

        @app.get("/metrics", include_in_schema=False)
        async def metrics_route(self, request: Request) -> Response:
            return await self.metrics(request)

        @app.websocket("/sessions/stream")
        async def stream_route(self, ws: WebSocket) -> None:
            await self.stream(ws)

        @app.api_route("/{path:path}", methods=FORWARDED_METHODS, include_in_schema=False)
        async def forward_route(self, request: Request, path: str) -> Response:
            return await self.forward(request)

    return serve.ingress(app)(Ingress)


class SocketRelay:
    """One client WebSocket relayed to a worker's session: placed like an offer (a replica that
    answers "no free slot" before the session starts is skipped and the client's messages so far
    replayed to the next), client messages fed in order, one batch in flight at a time."""

    def __init__(self, worker: DeploymentHandle, ws: WebSocket) -> None:
        self.worker = worker
        self.ws = ws
        self.accepted = asyncio.Event()
        self.established = False  # the worker said anything but "full": no more retries
        self.replay: list[dict[str, Any]] = []  # client messages so far, until established
        self.pending: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.tried: list[str] = []

    async def run(self) -> None:
        reader = asyncio.create_task(self._read_client(), name="relay-read")
        try:
            while await self._attempt():
                pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def _may_retry(self) -> bool:
        return not self.established and len(self.tried) + 1 < len(known_replicas())

    async def _attempt(self) -> bool:
        """One replica; True when it refused for want of a slot and the next one should be tried."""
        key = uuid.uuid4().hex
        opening = SocketOpen(
            Route(place=True, exclude=tuple(self.tried)),
            key,
            self.ws.url.path,
            self.ws.url.query,
            _pairs(self.ws.headers),
            _client(self.ws),
            tuple(self.ws.scope.get("subprotocols", ())),
        )
        stream = remote(self.worker, "socket", opening, stream=True)
        feeder: asyncio.Task[None] | None = None
        owner = ""
        full = False
        try:
            async for message in stream:
                kind = message["type"]
                if kind == "tunnel.open":
                    owner = message["replica"]
                    if self.tried:  # a retry: what the client sent so far goes again, in order
                        while not self.pending.empty():
                            self.pending.get_nowait()
                        for earlier in self.replay:
                            self.pending.put_nowait(earlier)
                    feeder = asyncio.create_task(self._feed(owner, key), name="relay-feed")
                    feeder.add_done_callback(functools.partial(_end_on_failure, stream=stream))
                elif kind == "websocket.accept":
                    if not self.accepted.is_set():
                        await self.ws.accept(subprotocol=message.get("subprotocol"))
                        self.accepted.set()
                elif kind == "websocket.send":
                    if _is_full(message) and self._may_retry():
                        full = True
                        continue
                    self.established = True
                    self.replay.clear()
                    if message.get("bytes") is not None:
                        await self.ws.send_bytes(message["bytes"])
                    else:
                        await self.ws.send_text(message["text"])
                elif kind == "websocket.close":  # sent below, unless the next replica is tried
                    break
            else:
                message = {"type": "websocket.close", "code": 1011, "reason": "worker ended"}
        except (WebSocketDisconnect, RuntimeError):
            return False
        except (RayActorError, RequestCancelledError, WorkerGone):
            log.warning("socket session on worker %s lost its worker", owner or "?")
            message = {"type": "websocket.close", "code": 1011, "reason": "its worker is gone"}
        finally:
            if feeder is not None:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder
            stream.cancel()
        if full:
            self.tried.append(owner)
            return True
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.ws.close(message.get("code", 1000), message.get("reason"))
        return False

    async def _read_client(self) -> None:
        """Client messages into :attr:`pending` (kept for a replay until the session is established)."""
        await self.accepted.wait()
        while True:
            message = dict(await self.ws.receive())
            if not self.established:
                self.replay.append(message)
            self.pending.put_nowait(message)
            if message["type"] == "websocket.disconnect":
                return

    async def _feed(self, owner: str, key: str) -> None:
        """The client's messages to the owner, in order, batching what queued meanwhile."""
        route = Route(owner=owner)
        while True:
            batch = [await self.pending.get()]
            while not self.pending.empty():
                batch.append(self.pending.get_nowait())
            if not await remote(self.worker, "feed", SocketFeed(route, key, tuple(batch))):
                raise WorkerGone(owner)  # the owner is gone (or draining away): the session with it
            if batch[-1]["type"] == "websocket.disconnect":
                return


class WorkerGone(Exception):
    """The worker that owns a relayed socket session no longer has it."""


def _end_on_failure(feeder: asyncio.Task[None], *, stream: Any) -> None:
    """A feeder that failed ends the relay: its stream is cancelled, and the relay closes the socket."""
    if not feeder.cancelled() and feeder.exception() is not None:
        stream.cancel()


def _is_full(message: dict[str, Any]) -> bool:
    text = message.get("text")
    if not text:
        return False
    try:
        event = json.loads(text)
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("type") == "error" and event.get("code") == FULL_CODE
