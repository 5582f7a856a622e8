"""Build and start the cluster: ``xactor serve --ray local --replicas N`` or ``--ray ADDRESS``.

Two deployments in one Serve application, ``xactor``: ``XactorIngress`` (the API, behind Serve's
HTTP proxy) and ``XactorWorker`` (one replica per device: ``num_gpus=1`` on GPU hosts, a CPU share
here). Avatars live on storage every replica reads (``data_dir``: the same folder on one host, a
shared volume on many), so an avatar uploaded once is at every replica, a replacement replica
included, and no copy can go stale.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xactor.server.settings import Settings

log = logging.getLogger(__name__)

APP_NAME = "xactor"
WORKER = "XactorWorker"
INGRESS = "XactorIngress"
# Serve logs a line per call on each side; the app logs what matters (its access log off too).
QUIET = {"enable_access_log": False}
MANY = 10_000  # a WebSocket session holds one streaming call for its whole life: no small cap


@dataclass(frozen=True)
class ClusterPlan:
    """How many workers and what each takes from the cluster."""

    replicas: int = 2
    gpus_per_replica: float = 0.0  # 1 on GPU hosts: one replica per device
    cpus_per_replica: float = 1.0
    drain_s: float = 60.0  # a stopping replica's sessions get this long to finish
    health_period_s: float = 2.0
    health_timeout_s: float = 10.0
    routing_stats_period_s: float = 0.5
    # Serve runs a replica's code on a second event loop thread, and a handle's router on a third,
    # by default; every call then hops threads on each side. Off, a call runs where it arrives.
    same_loop: bool = False  # on: fewer hops, but measured here it cost the workers frame rate


def worker_settings(settings: Settings) -> dict[str, Any]:
    """The settings a replica starts from, with folders made absolute (replicas run elsewhere)."""
    values = settings.model_dump(mode="json")
    for name, value in settings.model_dump().items():
        if isinstance(value, Path):
            values[name] = str(value.resolve())
    return values


def _loops(plan: ClusterPlan) -> dict[str, Any]:
    """The replicas' ``runtime_env`` for :attr:`ClusterPlan.same_loop`."""
    if not plan.same_loop:
        return {}
    flags = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0", "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0"}
    return {"runtime_env": {"env_vars": flags}}


def build_application(settings: Settings, plan: ClusterPlan) -> Any:
    """The bound Serve application (ingress in front of the workers)."""
    from ray import serve

    from xactor.server.cluster.ingress import ingress_class
    from xactor.server.cluster.router import SessionRouter
    from xactor.server.cluster.worker import Worker

    worker = serve.deployment(
        name=WORKER,
        num_replicas=plan.replicas,
        ray_actor_options={
            "num_gpus": plan.gpus_per_replica,
            "num_cpus": plan.cpus_per_replica,
            **_loops(plan),
        },
        max_ongoing_requests=MANY,
        logging_config=QUIET,
        health_check_period_s=plan.health_period_s,
        health_check_timeout_s=plan.health_timeout_s,
        graceful_shutdown_timeout_s=plan.drain_s + 10.0,
        graceful_shutdown_wait_loop_s=0.5,
        request_router_config={
            # By import path, so the ingress imports it (as a class object it would be pickled).
            "request_router_class": f"{SessionRouter.__module__}.{SessionRouter.__qualname__}",
            "request_routing_stats_period_s": plan.routing_stats_period_s,
            "request_routing_stats_timeout_s": 5.0,
        },
    )(Worker)
    ingress = serve.deployment(
        name=INGRESS,
        num_replicas=1,
        ray_actor_options={"num_cpus": 0, **_loops(plan)},
        max_ongoing_requests=MANY,
        logging_config=QUIET,
    )(ingress_class())
    return ingress.bind(worker.bind(worker_settings(settings), plan.drain_s), settings.token)


def plan_from_env(env: Mapping[str, str]) -> ClusterPlan:
    """The plan from ``XACTOR_CLUSTER_REPLICAS``, ``_GPUS``, ``_CPUS``, ``_DRAIN_S`` (2, 0, 1, 60)."""
    return ClusterPlan(
        replicas=int(env.get("XACTOR_CLUSTER_REPLICAS", "2")),
        gpus_per_replica=float(env.get("XACTOR_CLUSTER_GPUS", "0")),
        cpus_per_replica=float(env.get("XACTOR_CLUSTER_CPUS", "1")),
        drain_s=float(env.get("XACTOR_CLUSTER_DRAIN_S", "60")),
    )


def app_from_env(args: dict[str, str] | None = None) -> Any:
    """The application for a Serve config (KubeRay's ``serveConfigV2``:
    ``import_path: xactor.server.cluster.launch:app_from_env``): settings from ``XACTOR_*``, the
    plan from :func:`plan_from_env`; ``args`` (the config's) override the environment."""
    env = {**os.environ, **(args or {})}
    return build_application(Settings(), plan_from_env(env))


def start(settings: Settings, plan: ClusterPlan, address: str | None, host: str, port: int) -> None:
    """Start (``address`` None: a local Ray instance) and deploy; returns once every replica runs."""
    import ray
    from ray import serve

    if address is None:
        ray.init(
            address="local",  # always a new instance, even where another one runs on this host
            num_cpus=max(math.ceil(plan.replicas * plan.cpus_per_replica), 1),
            num_gpus=math.ceil(plan.replicas * plan.gpus_per_replica) if plan.gpus_per_replica else None,
            include_dashboard=False,
        )
    else:
        ray.init(address=address)
    serve.start(http_options={"host": host, "port": port}, proxy_location="EveryNode")
    serve.run(build_application(settings, plan), name=APP_NAME, route_prefix="/")
    log.info("xactor cluster: %d workers behind http://%s:%d", plan.replicas, host, port)


def serve_forever(settings: Settings, plan: ClusterPlan, address: str | None, host: str, port: int) -> None:
    """``xactor serve --ray``: start, then hold until Ctrl-C, then shut Serve down."""
    import ray
    from ray import serve

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # a supervisor's stop, like Ctrl-C: Ray's processes go too
    start(settings, plan, address, host, port)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        log.info("xactor cluster: shutting down")
    finally:
        if address is None:
            serve.shutdown()  # a local instance ends with this process
        else:
            serve.delete(APP_NAME)  # a shared cluster keeps running, without this application
        ray.shutdown()
