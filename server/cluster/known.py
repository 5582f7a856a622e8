"""The replicas the ingress's router knows, for ``/health`` and the fan-out routes.

Serve builds the request router inside the deployment handle and pickles the router's module
*by value*, so state kept there is a copy; this module is imported normally in both places.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol


class KnowsReplicas(Protocol):
    def known(self) -> list[tuple[str, dict[str, Any]]]: ...


_routers: list[weakref.ref[Any]] = []


def register(router: KnowsReplicas) -> None:
    """Called by a router when Serve creates it."""
    _routers.append(weakref.ref(router))


def known_replicas() -> list[tuple[str, dict[str, Any]]]:
    """(tag, last routing stats) of every running replica, from the newest live router here."""
    while _routers:
        router = _routers[-1]()
        if router is not None:
            return router.known()
        _routers.pop()
    return []
