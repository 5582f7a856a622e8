"""The ``xactor`` command line (the console script ``xactor = "xactor.cli.main:app"``).

Every command the README documents is registered here: ``serve``, ``avatar ...``, ``render``,
``export ...``, ``build-engine``, ``prepare``, ``bench ...`` and ``synth ...``. The command
modules import only typer and rich at the top, so ``xactor --help`` stays fast; torch, MediaPipe
and the server load inside the commands.
"""

from __future__ import annotations

import logging
from typing import Any

import typer

from xactor.bench.cli import bench_app
from xactor.cli.animate import animate
from xactor.cli.avatar import avatar_app
from xactor.cli.eval import eval_app
from xactor.cli.export import build_engine, export_app
from xactor.cli.prepare import prepare
from xactor.cli.render import render
from xactor.cli.synth import synth_app
from xactor.cli.train import distill_app, train_app

app = typer.Typer(help="xactor: a real-time streaming avatar server.", no_args_is_help=True)
app.add_typer(avatar_app, name="avatar")
app.command("render")(render)
app.command("animate")(animate)
app.add_typer(export_app, name="export")
app.command("build-engine")(build_engine)
app.command("prepare")(prepare)
app.add_typer(bench_app, name="bench")
app.add_typer(synth_app, name="synth")
app.add_typer(train_app, name="train")
app.add_typer(distill_app, name="distill")
app.add_typer(eval_app, name="eval")


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    """Set up logging once for whichever command runs."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default from settings)."),
    port: int | None = typer.Option(None, help="Port (default from settings)."),
    motion_source: str | None = typer.Option(None, help="Motion source by name (default from settings)."),
    renderer: str | None = typer.Option(None, help="Renderer by name (default from settings)."),
    backend: str | None = typer.Option(
        None, help="auto, torch, onnxruntime or tensorrt (default: settings)."
    ),
    max_sessions: int | None = typer.Option(None, min=1, help="Session limit (default: measured capacity)."),
    rtmp: str | None = typer.Option(
        None, help="Push every live session to this RTMP ingest too (rtmp://host/app/KEY), e.g. a livestream."
    ),
    ray: str | None = typer.Option(
        None,
        help="Serve on Ray Serve: 'local' starts a local Ray instance, anything else is the address of a "
        "running cluster (ray://host:10001 or host:6379). Needs the 'cluster' extra.",
    ),
    replicas: int = typer.Option(2, min=1, help="With --ray: worker replicas (one per device)."),
    replica_gpus: float = typer.Option(
        0.0, min=0.0, help="With --ray: GPUs each worker takes (1 on GPU hosts: one replica per device)."
    ),
    replica_cpus: float = typer.Option(1.0, min=0.0, help="With --ray: CPUs each worker takes."),
) -> None:
    """Serve the API and the web client (one process; with --ray, a cluster of worker replicas)."""
    import uvicorn
    from pydantic import ValidationError

    from xactor.server.app import create_app
    from xactor.server.log_redaction import uvicorn_log_config
    from xactor.server.settings import Settings, get_settings

    chosen: dict[str, Any] = {
        "motion_source": motion_source,
        "renderer": renderer,
        "backend": backend,
        "max_sessions": max_sessions,
        "rtmp_url": rtmp,
    }
    overrides = {k: v for k, v in chosen.items() if v is not None}
    try:
        settings = Settings(**overrides) if overrides else get_settings()
    except ValidationError as exc:  # unknown stage names, a backend a stage lacks: refuse at start-up
        messages = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise typer.BadParameter(messages) from None
    if ray is not None:
        _serve_cluster(settings, ray, replicas, replica_gpus, replica_cpus, host, port)
        return
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        log_config=uvicorn_log_config(),  # request lines carry ?token=: masked (server/log_redaction.py)
    )


def _serve_cluster(
    settings: Any, ray: str, replicas: int, gpus: float, cpus: float, host: str | None, port: int | None
) -> None:
    """``serve --ray``: the same API from an ingress in front of ``replicas`` worker replicas."""
    try:
        from xactor.server.cluster.launch import ClusterPlan, serve_forever
    except ImportError as exc:
        raise typer.BadParameter(
            f"--ray needs Ray Serve ({exc.name} is missing): pip install 'xactor[cluster]'",
            param_hint="--ray",
        ) from None
    plan = ClusterPlan(replicas=replicas, gpus_per_replica=gpus, cpus_per_replica=cpus)
    address = None if ray == "local" else ray
    serve_forever(settings, plan, address, host or settings.host, port or settings.port)


if __name__ == "__main__":
    app()
