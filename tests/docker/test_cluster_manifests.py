"""Static checks of the cluster deployment files (no Docker engine or Kubernetes runs here): parse
docker/kuberay-rayservice.yaml and docker/compose.cluster.yaml and check the rules we rely on."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
RAYSERVICE = ROOT / "docker" / "kuberay-rayservice.yaml"
COMPOSE = ROOT / "docker" / "compose.cluster.yaml"
DATA = "/data"
APP_BUILDER = "xactor.server.cluster.launch:app_from_env"


def ray_pin() -> str:
    """The Ray version the ``cluster`` extra pins (``ray[serve]==X``)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (pin,) = [re.fullmatch(r"ray\[serve\]==(\S+)", dep) for dep in extras["cluster"] if dep.startswith("ray")]
    assert pin, extras["cluster"]
    return pin.group(1)


def manifests() -> dict[str, dict[str, Any]]:
    """The documents of the KubeRay file by kind."""
    docs = [d for d in yaml.safe_load_all(RAYSERVICE.read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one document of each kind"
    return by_kind


def rayservice() -> dict[str, Any]:
    return manifests()["RayService"]


def ray_pods(service: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs of the head group and every worker group."""
    cluster = service["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [group["template"]["spec"] for group in groups]


def serve_config(service: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(service["spec"]["serveConfigV2"])
    return config


def xactor_app(service: dict[str, Any]) -> dict[str, Any]:
    (app,) = [a for a in serve_config(service)["applications"] if a["name"] == "xactor"]
    return app


def env_of(container: dict[str, Any], by_kind: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A container's environment: its ``env`` values and the ConfigMaps / Secrets it loads."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            config = by_kind["ConfigMap"]
            assert config["metadata"]["name"] == source["configMapRef"]["name"]
            env.update(config["data"])
        if "secretRef" in source:
            secret = by_kind["Secret"]
            assert secret["metadata"]["name"] == source["secretRef"]["name"]
            env.update(secret.get("stringData", {}))
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


# ---- KubeRay RayService ----------------------------------------------------------------------------


def test_rayservice_kind_and_ray_version_match_the_pin() -> None:
    service = rayservice()
    assert service["apiVersion"] == "ray.io/v1" and service["kind"] == "RayService"
    assert service["spec"]["rayClusterConfig"]["rayVersion"] == ray_pin() == "2.59.0"


def test_the_serve_application_is_the_xactor_builder_at_the_root() -> None:
    service = rayservice()
    config = serve_config(service)
    assert config["proxy_location"] == "EveryNode" and config["http_options"]["port"] == 8000
    app = xactor_app(service)
    assert app["route_prefix"] == "/" and app["import_path"] == APP_BUILDER
    module, _, function = app["import_path"].partition(":")
    assert function.isidentifier()
    # xactor.server.cluster.launch -> server/cluster/launch.py (xactor/ links the top-level folders)
    assert (ROOT / Path(*module.split(".")[1:])).with_suffix(".py").is_file()


def test_the_plan_matches_the_gpu_worker_group() -> None:
    """One worker replica per GPU: as many replicas as GPU pods, each taking the pod's GPUs."""
    service = rayservice()
    plan = xactor_app(service)["runtime_env"]["env_vars"]
    assert set(plan) >= {"XACTOR_CLUSTER_REPLICAS", "XACTOR_CLUSTER_GPUS", "XACTOR_CLUSTER_CPUS"}
    assert all(isinstance(v, str) for v in plan.values()), "runtime_env env_vars must be strings"
    (group,) = service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"]
    (container,) = group["template"]["spec"]["containers"]
    gpus = container["resources"]["limits"]["nvidia.com/gpu"]
    assert gpus == 1, "one GPU per worker pod"
    assert int(plan["XACTOR_CLUSTER_REPLICAS"]) == group["replicas"] * gpus
    assert float(plan["XACTOR_CLUSTER_GPUS"]) == 1.0
    assert float(plan["XACTOR_CLUSTER_CPUS"]) <= float(container["resources"]["requests"]["cpu"])


def test_the_head_takes_no_worker_replica_and_publishes_the_serve_port() -> None:
    service = rayservice()
    head = service["spec"]["rayClusterConfig"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    (container,) = head["template"]["spec"]["containers"]
    assert {"name": "serve", "containerPort": 8000} in container["ports"]
    assert "nvidia.com/gpu" not in container["resources"].get("limits", {})
    ports = service["spec"]["serveService"]["spec"]["ports"]
    assert {"name": "serve", "port": 8000} in ports


def test_every_ray_pod_mounts_the_shared_volume_at_the_data_dir() -> None:
    by_kind = manifests()
    claim = by_kind["PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    pods = ray_pods(by_kind["RayService"])
    assert len(pods) >= 2
    for pod in pods:
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        mounts = [m for m in container["volumeMounts"] if m["mountPath"] == DATA]
        assert len(mounts) == 1, container["name"]
        volume = volumes[mounts[0]["name"]]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert env_of(container, by_kind)["XACTOR_DATA_DIR"] == DATA
        assert pod["securityContext"]["fsGroup"] == 10001, "the image's user writes the volume"


def test_every_ray_pod_runs_one_pinned_image_with_the_ice_servers() -> None:
    """Same image everywhere (Ray needs one version on every node), never `latest`; the peers'
    TURN servers parse as settings."""
    import json

    from xactor.server.settings import Settings

    by_kind = manifests()
    containers = [c for pod in ray_pods(by_kind["RayService"]) for c in pod["containers"]]
    images = {c["image"] for c in containers}
    assert len(images) == 1
    (image,) = images
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
    for container in containers:
        raw = env_of(container, by_kind)["XACTOR_ICE_SERVERS"]
        servers = Settings.model_validate({"ice_servers": json.loads(raw)}).ice_servers
        assert servers and all(url.startswith("turn:") for s in servers for url in s.urls)


def test_probes_need_no_wget() -> None:
    """The image has python but no wget, which KubeRay's default probes call: ours are explicit."""
    for pod in ray_pods(rayservice()):
        for container in pod["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                command = container[probe]["exec"]["command"]
                assert command[:2] == ["python", "-c"]
                compile(command[2], probe, "exec")
                assert any("local_raylet_healthz" in arg for arg in command[3:])


# ---- docker compose ------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def command_text(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_compose_runs_a_ray_head_two_workers_and_a_turn_relay() -> None:
    services = compose()["services"]
    assert set(services) == {"head", "worker-1", "worker-2", "coturn"}
    head = command_text(services["head"])
    assert "ray start --head --port=6379" in head and "--num-cpus=0" in head
    assert re.search(r"xactor serve --ray head:6379 --replicas 2\b", head)
    assert "--host 0.0.0.0" in head and "8000:8000" in services["head"]["ports"]
    for name in ("worker-1", "worker-2"):
        worker = command_text(services[name])
        assert "ray start --address=head:6379" in worker and "--block" in worker
        assert "head" in services[name]["depends_on"]
    assert "3478:3478/udp" in services["coturn"]["ports"]


def test_compose_services_share_the_data_volume_and_one_image() -> None:
    loaded = compose()
    services = loaded["services"]
    ray = [services[n] for n in ("head", "worker-1", "worker-2")]
    for service in ray:
        assert "xactor-data:/data" in service["volumes"]
        assert service["build"]["dockerfile"] in {"docker/Dockerfile", "docker/Dockerfile.gpu"}
        assert (ROOT / service["build"]["dockerfile"]).is_file()
    assert "xactor-data" in loaded["volumes"]
    images = {s["image"] for s in ray}
    assert len(images) == 1
    for service in services.values():
        image = service.get("image", "")
        assert image and ":" in image and not image.endswith(":latest"), image


def test_compose_replicas_fit_the_workers() -> None:
    """Each replica's CPU share is what one worker offers, so the two land one per worker."""
    services = compose()["services"]
    head = command_text(services["head"])
    share = re.search(r"--replica-cpus (\S+)", head)
    assert share
    for name in ("worker-1", "worker-2"):
        assert f"--num-cpus={share.group(1)}" in command_text(services[name])


def test_compose_ice_servers_parse_with_coturns_credentials() -> None:
    """The same TURN convention as docker/compose.yaml: the credentials coturn is started with."""
    import json

    from xactor.server.settings import Settings

    services = compose()["services"]
    env = {"PUBLIC_IP": "203.0.113.7", "TURN_USER": "u", "TURN_PASSWORD": "p"}

    def substitute(text: str) -> str:  # compose's ${VAR}, ${VAR:-default}, ${VAR:?error}
        return re.sub(r"\$\{(\w+)(?::[-?][^}]*)?\}", lambda m: env[m.group(1)], text)

    raw = substitute(services["head"]["environment"]["XACTOR_ICE_SERVERS"])
    (server,) = Settings.model_validate({"ice_servers": json.loads(raw)}).ice_servers
    assert server.urls[0] == "turn:203.0.113.7:3478?transport=udp" and server.credential == "p"
    user = next(a for a in services["coturn"]["command"] if a.startswith("--user="))
    assert substitute(user) == "--user=u:p"


def test_the_rayservice_import_path_names_a_real_application_builder() -> None:
    """serveConfigV2's import path resolves to the builder the manifest's environment feeds, and
    both images install the cluster extra."""
    import importlib

    config = rayservice()["spec"]["serveConfigV2"]
    config = yaml.safe_load(config) if isinstance(config, str) else config
    paths = [app["import_path"] for app in config["applications"]]
    assert paths == [APP_BUILDER]
    module_name, _, function = APP_BUILDER.partition(":")
    assert callable(getattr(importlib.import_module(module_name), function))
    for name in ("Dockerfile", "Dockerfile.gpu"):
        assert '".[cluster]"' in (ROOT / "docker" / name).read_text(), f"{name} installs the cluster extra"
