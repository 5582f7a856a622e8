"""What the ingress sends a worker replica, and how a call says where it must go.

A session's id carries the tag of the replica that owns it (``<tag>-<16 hex>``), so every ingress
replica can route a follow-up without a shared table; single-process ids have no tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TAG_SEPARATOR = "-"
SESSION_PATH = re.compile(r"^/sessions/(?P<id>[^/]+)(?:/.*)?$")
NOT_SESSION_IDS = frozenset({"stream"})  # /sessions/stream is the WebSocket route, not an id


@dataclass(frozen=True)
class Route:
    """Where a call goes: ``owner`` (a replica tag) pins it; ``place`` asks for the replica with the
    most free slots, skipping ``exclude`` (replicas that already refused it); neither: any replica."""

    owner: str | None = None
    place: bool = False
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request, as the worker's app will see it."""

    route: Route
    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    client: tuple[str, int] | None = None


@dataclass(frozen=True)
class HttpReply:
    """The app's answer, and the replica that gave it."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    replica: str


@dataclass(frozen=True)
class SocketOpen:
    """The start of a WebSocket session on a worker (the ASGI ``websocket`` scope's parts)."""

    route: Route
    key: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    client: tuple[str, int] | None = None
    subprotocols: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SocketFeed:
    """Client messages (ASGI ``websocket.receive`` / ``websocket.disconnect``) for an open socket."""

    route: Route
    key: str
    messages: tuple[dict, ...]


def session_tag(session_id: str) -> str | None:
    """The owning replica's tag in a cluster session id; None for an untagged (single-process) id."""
    tag, sep, rest = session_id.partition(TAG_SEPARATOR)
    return tag if sep and tag and rest else None


def route_for(method: str, path: str) -> Route:
    """The route of an HTTP request: session follow-ups to their owner, new sessions placed."""
    if method == "POST" and path.rstrip("/") == "/sessions":
        return Route(place=True)
    match = SESSION_PATH.match(path)
    if match and match["id"] not in NOT_SESSION_IDS:
        return Route(owner=session_tag(match["id"]))
    return Route()
