"""The cluster's routing decisions without a cluster: the router's ranking and pinning, the
ingress's retry past a full replica, and the merged metrics."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("ray.serve", reason="the 'cluster' extra (ray[serve]) is not installed")

from ray.serve._private.common import DeploymentHandleSource, DeploymentID, ReplicaID, RequestMetadata
from ray.serve.request_router import PendingRequest

from xactor.server.cluster import known
from xactor.server.cluster.calls import HttpCall, HttpReply, Route
from xactor.server.cluster.ingress import IngressCore, merge_metrics, refused_as_full
from xactor.server.cluster.router import SessionRouter

pytestmark = pytest.mark.anyio
DEPLOYMENT = DeploymentID(name="XactorWorker", app_name="xactor")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def replica(tag: str, **stats: Any) -> Any:
    return SimpleNamespace(replica_id=ReplicaID(unique_id=tag, deployment_id=DEPLOYMENT), routing_stats=stats)


def pending(first: Any) -> PendingRequest:
    metadata = RequestMetadata(request_id="r", internal_request_id="i")
    return PendingRequest(args=[first], kwargs={}, metadata=metadata)


def router() -> SessionRouter:
    r = SessionRouter(deployment_id=DEPLOYMENT, handle_source=DeploymentHandleSource.UNKNOWN)
    r.initialize_state()
    return r


def tags(ranks: list[list[Any]]) -> list[list[str]]:
    return [[r.replica_id.unique_id for r in rank] for rank in ranks]


async def test_new_sessions_go_to_the_most_free_slots_first() -> None:
    replicas = [replica("a", free=1, seq=1), replica("b", free=3, seq=1), replica("c", free=9, draining=True)]
    offer = pending(HttpCall(Route(place=True), "POST", "/sessions"))
    ranks = await router().choose_replicas(replicas, offer)
    assert tags(ranks) == [["b"], ["a"], ["c"]]  # one replica per rank; a draining one last


async def test_new_sessions_go_to_warmed_up_replicas_first() -> None:
    """A replica still warming up (its /ready says 503) would make a new session wait seconds."""
    replicas = [
        replica("cold", free=4, ready=False),
        replica("warm", free=1, ready=True),
        replica("old", free=2),  # a report without "ready" counts as warm
        replica("full", free=0, ready=True),
    ]
    offer = pending(HttpCall(Route(place=True), "POST", "/sessions"))
    ranks = await router().choose_replicas(replicas, offer)
    assert tags(ranks) == [["old"], ["warm"], ["cold"], ["full"]]  # a cold free slot beats none


async def test_placements_since_the_last_report_count_against_a_replica() -> None:
    """Two offers inside one stats period must not both land on the replica that had one slot
    more, even when a report taken before the placements arrives after them."""
    r = router()
    before = time.time() - 1.0
    replicas = [replica("a", free=2, at=before), replica("b", free=1, at=before)]
    r._replicas = {x.replica_id: x for x in replicas}
    call = pending(HttpCall(Route(place=True), "POST", "/sessions"))
    assert tags(await r.choose_replicas(replicas, call))[0] == ["a"]
    r.on_request_routed(call, replicas[0].replica_id, None)
    r.on_request_routed(call, replicas[0].replica_id, None)
    assert tags(await r.choose_replicas(replicas, call))[0] == ["b"]  # a: 2 - 2 placed < b: 1
    replicas[0].routing_stats = {"free": 2, "at": before + 0.5}  # a stale report changes nothing
    assert tags(await r.choose_replicas(replicas, call))[0] == ["b"]
    replicas[0].routing_stats = {"free": 0, "at": time.time()}  # a report with them in it
    assert tags(await r.choose_replicas(replicas, call))[0] == ["b"]
    replicas[0].routing_stats = {"free": 2, "at": time.time()}  # they ended: counted from the report
    assert tags(await r.choose_replicas(replicas, call))[0] == ["a"]


async def test_a_replica_that_refused_is_skipped() -> None:
    replicas = [replica("a", free=5, seq=1), replica("b", free=1, seq=1)]
    call = pending(HttpCall(Route(place=True, exclude=("a",)), "POST", "/sessions"))
    assert tags(await router().choose_replicas(replicas, call)) == [["b"]]


async def test_follow_ups_go_to_their_owner_or_to_anyone_who_says_gone() -> None:
    replicas = [replica("a", free=5), replica("b", free=1)]
    r = router()
    assert tags(await r.choose_replicas(replicas, pending(Route(owner="b")))) == [["b"]]
    owned = HttpCall(Route(owner="b"), "DELETE", "/sessions/b-00")
    assert tags(await r.choose_replicas(replicas, pending(owned))) == [["b"]]
    gone = HttpCall(Route(owner="zz"), "DELETE", "/sessions/zz-00")
    assert tags(await r.choose_replicas(replicas, pending(gone))) == [["a", "b"]]


class FakeWorker:
    """A worker handle whose replicas answer POST /sessions from a script."""

    def __init__(self, answers: dict[str, int]) -> None:
        self.answers = answers
        self.calls: list[HttpCall] = []
        self.http = SimpleNamespace(remote=self._http)

    async def _http(self, call: HttpCall) -> HttpReply:
        self.calls.append(call)
        tag = next(t for t in self.answers if t not in call.route.exclude)
        status = self.answers[tag]
        code = "too_many_sessions" if status == 503 else "ok"
        body = json.dumps({"detail": {"code": code, "message": "m"}}).encode()
        return HttpReply(status, (("retry-after", "5"),), body, tag)


class TwoReplicas:
    def known(self) -> list[tuple[str, dict[str, Any]]]:
        return [("a", {}), ("b", {})]


async def test_the_ingress_offers_a_refused_session_to_the_next_replica() -> None:
    keep = TwoReplicas()
    known.register(keep)
    offer = HttpCall(Route(place=True), "POST", "/sessions", body=b"{}")
    worker = FakeWorker({"a": 503, "b": 201})
    reply = await IngressCore(worker)._place(offer)  # type: ignore[arg-type]
    assert (reply.status, reply.replica) == (201, "b")
    assert [c.route.exclude for c in worker.calls] == [(), ("a",)]
    everyone_full = FakeWorker({"a": 503, "b": 503})
    reply = await IngressCore(everyone_full)._place(offer)  # type: ignore[arg-type]
    assert reply.status == 503 and len(everyone_full.calls) == 2
    assert dict(reply.headers)["retry-after"] == "5"
    del keep


def test_only_a_full_replica_counts_as_full() -> None:
    full = HttpReply(503, (), b'{"detail": {"code": "too_many_sessions", "message": "m"}}', "a")
    other = HttpReply(503, (), b'{"detail": {"code": "tts_unavailable", "message": "m"}}', "a")
    assert refused_as_full(full) and not refused_as_full(other)
    assert not refused_as_full(HttpReply(503, (), b"not json", "a"))


def test_metrics_of_every_replica_merge_under_a_replica_label() -> None:
    text = (
        "# HELP xactor_sessions_active Live sessions.\n# TYPE xactor_sessions_active gauge\n"
        "xactor_sessions_active 1.0\n"
        "# HELP xactor_frames_total Frames.\n# TYPE xactor_frames_total counter\n"
        'xactor_frames_total{kind="video"} 5.0\n'
    )
    merged = merge_metrics({"a": text, "b": text.replace("1.0", "2.0")}).decode()
    assert merged.count("# TYPE xactor_sessions_active gauge") == 1
    assert 'xactor_sessions_active{replica="a"} 1.0' in merged
    assert 'xactor_sessions_active{replica="b"} 2.0' in merged
    assert 'xactor_frames_total{kind="video",replica="b"} 5.0' in merged


def test_a_serve_config_builds_the_application_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker/kuberay-rayservice.yaml's import path: the plan from XACTOR_CLUSTER_*, no Ray needed."""
    from xactor.server.cluster.launch import app_from_env, plan_from_env

    env = {"XACTOR_CLUSTER_REPLICAS": "3", "XACTOR_CLUSTER_GPUS": "1", "XACTOR_CLUSTER_CPUS": "2"}
    plan = plan_from_env(env)
    assert (plan.replicas, plan.gpus_per_replica, plan.cpus_per_replica, plan.drain_s) == (3, 1.0, 2.0, 60.0)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    application = app_from_env()
    assert type(application).__name__ == "Application"


class DescribingWorker:
    """A worker handle whose replicas describe themselves from a script."""

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        self.rows = rows
        self.describe = SimpleNamespace(remote=self._describe)

    async def _describe(self, route: Route | None) -> dict[str, Any]:
        tag = route.owner if route is not None and route.owner else next(iter(self.rows))
        return {"tag": tag, **self.rows[tag]}


class RouterView:
    """What the router's last routing stats say of each replica."""

    def __init__(self, stats: dict[str, dict[str, Any]]) -> None:
        self.stats = stats

    def known(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self.stats.items())


async def test_the_cluster_is_ready_once_a_replica_is() -> None:
    cold = {"ready": False, "frame_ms": None}
    warm = {"ready": True, "frame_ms": 31.5}
    view = RouterView({"a": cold, "b": cold})
    known.register(view)
    reply = await IngressCore(DescribingWorker({"a": cold, "b": cold})).ready()  # type: ignore[arg-type]
    assert reply.status_code == 503 and reply.headers["retry-after"] == "1"
    assert json.loads(reply.body)["detail"]["code"] == "warming_up"
    # b says it is warm, but the router's stats (placement goes by them) have not caught up yet
    reply = await IngressCore(DescribingWorker({"a": cold, "b": warm})).ready()  # type: ignore[arg-type]
    assert reply.status_code == 503
    view.stats["b"] = warm
    reply = await IngressCore(DescribingWorker({"a": cold, "b": warm})).ready()  # type: ignore[arg-type]
    assert reply.status_code == 200
    answer = json.loads(reply.body)
    assert answer == {"ready": True, "capacity_measured": True, "replicas_ready": 1, "replicas": 2}
    del view
