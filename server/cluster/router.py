"""The Serve request router of the worker deployment: new sessions to the warmed-up replica with
the most free slots, follow-ups to the replica that owns the session.

Serve's own routers balance stateless requests (power of two choices) or hash sessions onto a
ring that moves when replicas change; a live session lives in one process, so neither fits.
Each worker reports ``{"tag", "free", "sessions", "limit", "draining", "at"}`` through
``record_routing_stats`` (polled by Serve's controller, then broadcast to the routers); this
router also counts the sessions it placed after the moment a replica's report was taken
(``at``), so a burst of offers does not all land on one replica, even when a report taken before
a placement arrives after it.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ray.serve.experimental.consistent_hash_router import ConsistentHashRouter
from ray.serve.request_router import PendingRequest, ReplicaID, RunningReplica

from xactor.server.cluster import known
from xactor.server.cluster.calls import Route


def replica_tag(replica: RunningReplica) -> str:
    """The short id a replica puts in front of its session ids (Serve's unique replica id)."""
    return replica.replica_id.unique_id


def _route(pending: PendingRequest | None) -> Route | None:
    """The call's :class:`Route`: its first argument, or that argument's ``route``."""
    if pending is None or not pending.args:
        return None
    first = pending.args[0]
    route = first if isinstance(first, Route) else getattr(first, "route", None)
    return route if isinstance(route, Route) else None


class SessionRouter(ConsistentHashRouter):
    """Places by free slots, pins by owner tag (see the module docstring).

    Built on Serve's consistent-hash router for its request loop only (its ``choose_replicas`` is
    replaced): that loop routes each request for itself and stops when nothing is pending, where
    the base router's loop, without a FIFO fallback, keeps choosing (and probing) for no request.
    """

    # Serve asks a replica its queue length before sending; a worker busy starting up (models,
    # the capacity measurement) on a loaded host answers late, and 0.1 s would refuse it for ever.
    queue_len_response_deadline_s = 1.0
    max_queue_len_response_deadline_s = 10.0

    def initialize_state(self, **kwargs: Any) -> None:
        super().initialize_state(**kwargs)
        self._placed: dict[ReplicaID, list[float]] = {}  # replica -> when this router placed there
        known.register(self)

    def headroom(self, replica: RunningReplica) -> float:
        """Free slots by the replica's last report, less what this router placed after it was taken."""
        stats = replica.routing_stats or {}
        if stats.get("draining"):
            return float("-inf")
        taken_at = float(stats.get("at", 0.0))
        placed = self._placed.get(replica.replica_id, [])
        placed[:] = [t for t in placed if t > taken_at]  # older ones are in the report already
        return float(stats.get("free", 1)) - len(placed)

    def rank(self, replica: RunningReplica) -> tuple[bool, bool, bool, float]:
        """Sort key, best last: not draining, a free slot, warmed up (a new session on a replica
        still warming waits seconds for it), then the most free slots."""
        stats = replica.routing_stats or {}
        room = self.headroom(replica)
        return (not stats.get("draining", False), room > 0, bool(stats.get("ready", True)), room)

    async def choose_replicas(
        self, candidate_replicas: list[RunningReplica], pending_request: PendingRequest | None = None
    ) -> list[list[RunningReplica]]:
        if pending_request is not None:
            # Sleep between retries: without it a replica that answers its queue-length probe
            # late is retried in a busy loop, which starves the very process waiting for it.
            pending_request.routing_context.should_backoff = True
        route = _route(pending_request)
        if route is None or not candidate_replicas:
            return [candidate_replicas]
        if route.owner is not None:
            owner = [r for r in candidate_replicas if replica_tag(r) == route.owner]
            # The owner is gone: any replica answers (410, it knows the session is not its own).
            return [owner] if owner else [candidate_replicas]
        if not route.place:
            return [candidate_replicas]
        eligible = [r for r in candidate_replicas if replica_tag(r) not in route.exclude]
        if not eligible:  # every replica refused already: one more answers 503 for all of them
            return [candidate_replicas]
        ranked = sorted(eligible, key=self.rank, reverse=True)
        return [[r] for r in ranked]

    async def _select_from_candidate_replicas(
        self, candidates: list[RunningReplica], backoff_index: int
    ) -> RunningReplica | None:
        """A candidate of the rank (any one), without asking its queue length first. Serve's routers
        probe each replica's queue (one more round trip per call, ~20 ms on a busy host) to balance
        short requests; here a rank holds the one replica the call must go to, and a worker's load
        is its sessions, which the routing stats already carry."""
        running = [c for c in candidates if c.replica_id in self._replicas]
        return random.choice(running) if running else None

    def on_request_routed(self, pending_request: PendingRequest, replica_id: ReplicaID, result: Any) -> None:
        route = _route(pending_request)
        if route is not None and route.place:
            self._placed.setdefault(replica_id, []).append(time.time())

    def known(self) -> list[tuple[str, dict[str, Any]]]:
        """Every running replica this router knows, with its last routing stats."""
        return [(replica_tag(r), dict(r.routing_stats or {})) for r in self._replicas.values()]
