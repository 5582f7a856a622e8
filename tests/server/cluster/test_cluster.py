"""The cluster on one machine: a real multi-node Ray cluster (a head and two worker nodes of one
logical GPU each, ``ray.cluster_utils.Cluster``), the Serve application with one worker replica
per node, and real aiortc clients and a WebSocket client on loopback.

One module-scoped cluster (starting it takes most of the time); the tests run in file order and
the last one removes a node.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="the 'cluster' extra (ray[serve]) is not installed")

from xactor.bench.live_client import LiveClient, SignalTrack
from xactor.server.cluster.launch import APP_NAME, ClusterPlan, build_application
from xactor.server.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.anyio, pytest.mark.ray]  # Ray's threads stay: run last
PER_REPLICA = 2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from ray import serve
    from ray.cluster_utils import Cluster

    started = time.monotonic()
    ray_cluster = Cluster(
        initialize_head=True, connect=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    nodes = [ray_cluster.add_node(num_cpus=1, num_gpus=1) for _ in range(2)]
    ray_cluster.wait_for_nodes()
    port = _free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port}, proxy_location="HeadOnly")
        settings = Settings(
            data_dir=Path(tmp_path_factory.mktemp("cluster-data")),
            max_sessions=PER_REPLICA,
            motion_source="heuristic",
            gc_freeze=False,
        )
        plan = ClusterPlan(
            replicas=2, gpus_per_replica=1, cpus_per_replica=0.5, drain_s=2.0, health_period_s=1.0
        )
        serve.run(build_application(settings, plan), name=APP_NAME, route_prefix="/")
        print(f"cluster up in {time.monotonic() - started:.1f} s")
        yield {"url": f"http://127.0.0.1:{port}", "ray": ray_cluster, "nodes": nodes}
    finally:
        import ray

        serve.shutdown()
        ray.shutdown()  # the driver first: the cluster refuses to remove the node it is connected to
        ray_cluster.shutdown()


async def _health(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/health")
    assert r.status_code == 200, r.text
    return r.json()


async def _wait_replicas(http: httpx.AsyncClient, count: int, timeout: float = 60.0) -> dict[str, Any]:
    """Until /health lists ``count`` replicas (the router learns them with the first calls)."""
    deadline = time.monotonic() + timeout
    while True:
        health = await _health(http)
        if len(health["replicas"]) == count or time.monotonic() > deadline:
            return health
        await asyncio.sleep(0.5)


async def _wait_ready(http: httpx.AsyncClient, timeout: float = 120.0) -> dict[str, Any]:
    """Until /ready says every replica has warmed up (503 warming_up before the first has)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get("/ready")
        if r.status_code == 503:
            assert r.json()["detail"]["code"] == "warming_up" and r.headers["retry-after"] == "1"
        else:
            assert r.status_code == 200, r.text
            if r.json()["replicas_ready"] == r.json()["replicas"] or time.monotonic() > deadline:
                return r.json()
        assert time.monotonic() < deadline, "no replica warmed up"
        await asyncio.sleep(0.5)


def _client(url: str, http: httpx.AsyncClient) -> LiveClient:
    return LiveClient(base_url=url, http=http, keep_images=False)


def _silence() -> SignalTrack:
    return SignalTrack(np.zeros(48_000, dtype=np.float32), loop_signal=True)


def _fps(client: LiveClient, seconds: float) -> float:
    now = time.monotonic()
    return sum(1 for f in client.frames if f.t > now - seconds) / seconds


async def test_sessions_spread_and_follow_ups_reach_their_owner(cluster: dict[str, Any]) -> None:
    url = cluster["url"]
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        health = await _wait_replicas(http, 2)
        assert [r["limit"] for r in health["replicas"]] == [PER_REPLICA, PER_REPLICA], health
        ready = await _wait_ready(http)
        assert ready["replicas"] == 2 and ready["replicas_ready"] == 2, ready
        tags = {r["tag"] for r in health["replicas"]}
        clients = [_client(url, http) for _ in range(2)]
        try:
            answers = [await c.start(_silence(), options={"resolution": 256}) for c in clients]
            owners = {a["session_id"].split("-")[0] for a in answers}
            assert owners == tags, f"both replicas used: {answers} over {tags}"
            for c in clients:
                await c.wait_frames(10, 30)
            for a in answers:
                stats = (await http.get(f"/sessions/{a['session_id']}")).json()
                assert stats["replica"] == a["session_id"].split("-")[0] and stats["id"] == a["session_id"]
                cleared = await http.post(f"/sessions/{a['session_id']}/clear")
                assert cleared.status_code == 200, cleared.text
            listed = {s["id"] for s in (await http.get("/sessions")).json()}
            assert listed == {a["session_id"] for a in answers}
            health = await _health(http)
            assert health["sessions"] == 2 and {r["sessions"] for r in health["replicas"]} == {1}
            metrics = (await http.get("/metrics")).text
            assert all(f'replica="{t}"' in metrics for t in tags)
            for a in answers:
                deleted = await http.delete(f"/sessions/{a['session_id']}")  # routed to the owner
                assert deleted.status_code == 204, deleted.text
                again = await http.delete(f"/sessions/{a['session_id']}")
                assert again.status_code == 404, again.text  # the owner answered: it has no such session now
        finally:
            for c in clients:
                await c.stop(delete=False)


async def test_a_websocket_session_runs_through_the_ingress(cluster: dict[str, Any]) -> None:
    import websockets

    ws_url = cluster["url"].replace("http", "ws") + "/sessions/stream"
    request = {"avatar_id": "default", "sample_rate": 16000, "video": "jpeg", "options": {"resolution": 256}}
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.send(json.dumps(request))
        session = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert session["type"] == "session" and "-" in session["session_id"], session
        pcm = np.zeros(320, dtype=np.int16).tobytes()
        frames = 0
        deadline = time.monotonic() + 20
        while frames < 10 and time.monotonic() < deadline:
            await ws.send(pcm)
            await ws.send(pcm)
            try:
                message = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            frames += isinstance(message, bytes)
        assert frames >= 10
    async with httpx.AsyncClient(base_url=cluster["url"], timeout=30) as http:
        for _ in range(20):  # the session ends with its socket, on its owner
            if (await http.get(f"/sessions/{session['session_id']}")).status_code == 404:
                break
            await asyncio.sleep(0.25)
        else:
            pytest.fail("the WebSocket session outlived its socket")


async def test_a_lost_node_costs_only_its_own_sessions(cluster: dict[str, Any]) -> None:
    url = cluster["url"]
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        replicas = (await _wait_replicas(http, 2))["replicas"]
        clients = [_client(url, http) for _ in range(2)]
        try:
            answers = [await c.start(_silence(), options={"resolution": 256}) for c in clients]
            for c in clients:
                await c.wait_frames(10, 30)
            await asyncio.sleep(2.0)
            owners = [a["session_id"].split("-")[0] for a in answers]
            assert len(set(owners)) == 2, f"one session on each replica: {owners}"
            owner_node = {r["tag"]: r["node_id"] for r in replicas}
            lost_tag = owners[0]
            lost = next(n for n in cluster["nodes"] if n.node_id == owner_node[lost_tag])
            survivor, survivor_answer = clients[1], answers[1]
            fps_before = _fps(survivor, 2.0)

            cluster["ray"].remove_node(lost)
            await asyncio.sleep(3.0)

            gone = await http.get(f"/sessions/{answers[0]['session_id']}")
            assert gone.status_code == 410, gone.text
            assert gone.json()["detail"]["code"] == "session_gone"
            assert (await http.delete(f"/sessions/{answers[0]['session_id']}")).status_code == 410
            alive = await http.get(f"/sessions/{survivor_answer['session_id']}")
            assert alive.status_code == 200, alive.text
            fps_after = _fps(survivor, 3.0)
            assert fps_after >= 0.8 * fps_before, (fps_before, fps_after)

            newcomer = _client(url, http)
            clients.append(newcomer)
            answer = await newcomer.start(_silence(), options={"resolution": 256})
            assert answer["session_id"].split("-")[0] == survivor_answer["session_id"].split("-")[0]
            await newcomer.wait_frames(5, 30)
            health = await _health(http)
            assert [r["tag"] for r in health["replicas"]] == [survivor_answer["session_id"].split("-")[0]]
            print(f"survivor fps before/after the loss: {fps_before:.1f} / {fps_after:.1f}")
        finally:
            for c in clients:
                await c.stop(delete=False)
