"""What a live session costs: the server's own CPU counter while N sessions stream, per session.

For each session count (default 1 and 2) a fresh ``xactor serve`` runs on a free port with its
defaults (learned generator + warp, 256 px, H.264); N aiortc clients on this machine send speech
and receive the video. After ``warmup`` seconds the benchmark reads ``process_cpu_seconds_total``
from ``/metrics``, waits ``duration`` seconds, reads it again, and reports cores used, cores per
session, each session's frame rate, its audio-to-frame latency (server side, p95) and the longest
gap between two frames its client received (a freeze).

``--renderer diffusion`` measures the diffusion renderer instead: each session on a different
procedural avatar (its domain), so the render stage's batch across avatars is what runs.

``--variant-env KEY=VALUE`` (repeatable) measures the current code with those server settings
too, as a third row per level: how a setting (``XACTOR_TORCH_THREADS=0``) changes the cost.

``--baseline REV`` runs the same levels on the code of git revision REV too (a temporary worktree),
interleaved with the current code level by level, so "before" and "after" share the machine's
state: this VM's speed drifts by tens of percent from hour to hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from xactor.bench.churn import _speech_like
from xactor.bench.latency import REPO, local_server, server_cpu_seconds
from xactor.bench.live_client import LiveClient, SignalTrack, procedural_avatar_ids
from xactor.engines.timebase import FPS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionCpuConfig:
    sessions: tuple[int, ...] = (1, 2)
    duration_s: float = 20.0
    warmup_s: float = 5.0
    baseline: str | None = None  # a git revision to measure beside the current code
    repeats: int = 1
    renderer: str = "warp"  # "diffusion": each session on its own procedural avatar
    # Server settings (environment variables) measured as another row beside the current code's
    # defaults, level by level: e.g. (("XACTOR_TORCH_THREADS", "1"),).
    variant_env: tuple[tuple[str, str], ...] = ()


async def measure(url: str, sessions: int, cfg: SessionCpuConfig) -> dict[str, Any]:
    """``sessions`` speaking clients against the server at ``url``: cores over the window."""
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as http:
        clients = [LiveClient(http=http, keep_images=False) for _ in range(sessions)]
        avatars = await _avatars(http, cfg.renderer, sessions)
        options = {"renderer": cfg.renderer}
        for client, avatar in zip(clients, avatars, strict=True):  # one by one: offers at once
            # would share the start-up's spike
            await client.start(SignalTrack(_speech_like(3.0), loop_signal=True), avatar, options)
        try:
            await asyncio.sleep(cfg.warmup_s)
            text0, t0 = (await http.get("/metrics")).text, time.monotonic()
            frames0 = [len(c.frames) for c in clients]
            await asyncio.sleep(cfg.duration_s)
            text1, t1 = (await http.get("/metrics")).text, time.monotonic()
            received = [(len(c.frames) - f0) / (t1 - t0) for c, f0 in zip(clients, frames0, strict=True)]
            gaps = [
                _longest_gap_ms([f.t for f in c.frames[f0:]]) for c, f0 in zip(clients, frames0, strict=True)
            ]
            stats = [await c.stats() for c in clients]
        finally:
            await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
    cpu0, cpu1 = server_cpu_seconds(text0), server_cpu_seconds(text1)
    if cpu0 is None or cpu1 is None:
        raise RuntimeError("the server's /metrics has no process_cpu_seconds_total (not Linux?)")
    cores = (cpu1 - cpu0) / (t1 - t0)
    p95 = [(s["latency_ms"]["audio_to_encoder"] or {}).get("p95") for s in stats]
    frames_per_s = sum(s["fps"] for s in stats)
    threads0, threads1 = thread_cpu_from_metrics(text0), thread_cpu_from_metrics(text1)
    # CPU ms per frame rendered, by thread role (only roles alive through the whole window).
    frames = (t1 - t0) * frames_per_s
    per_frame = (
        {
            name: round(1000 * (threads1[name] - threads0[name]) / frames, 2)
            for name in sorted(threads1.keys() & threads0.keys())
        }
        if frames
        else {}
    )
    return {
        "sessions": sessions,
        "cores": round(cores, 3),
        "cores_per_session": round(cores / sessions, 3),
        # A saturated server renders fewer frames: a whole 25 fps session costs the CPU per
        # frame it did render, times 25.
        "cores_per_25fps_session": round(cores / frames_per_s * FPS, 3) if frames_per_s else None,
        "fps": [round(s["fps"], 1) for s in stats],
        "fps_received": [round(r, 1) for r in received],
        "audio_to_frame_p95_ms": p95,
        "longest_gap_ms": gaps,  # the longest freeze each client saw
        "cpu_ms_per_frame_by_thread": per_frame,
        "stage_ms": _stage_means(text0, text1),
    }


def _stage_sums(metrics_text: str) -> dict[str, tuple[float, float]]:
    """(seconds, calls) so far of each ``xactor_stage_seconds`` stage."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "xactor_stage_seconds":
            continue
        for sample in family.samples:
            pair = out.setdefault(sample.labels["stage"], [0.0, 0.0])
            if sample.name.endswith("_sum"):
                pair[0] = sample.value
            elif sample.name.endswith("_count"):
                pair[1] = sample.value
    return {k: (v[0], v[1]) for k, v in out.items()}


def _stage_means(text0: str, text1: str) -> dict[str, float]:
    """Mean wall ms per call of each stage over the window (stages that ran in it): what the
    thread budget's CPU was spent on."""
    before, after = _stage_sums(text0), _stage_sums(text1)
    means = {}
    for stage, (seconds, calls) in after.items():
        s0, c0 = before.get(stage, (0.0, 0.0))
        if calls > c0:
            means[stage] = round(1000 * (seconds - s0) / (calls - c0), 2)
    return means


def thread_cpu_from_metrics(metrics_text: str) -> dict[str, float]:
    """The server's ``xactor_thread_cpu_seconds`` by thread role (empty on an older server)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics_text):
        if family.name == "xactor_thread_cpu_seconds":
            return {s.labels["thread"]: float(s.value) for s in family.samples}
    return {}


async def _avatars(http: httpx.AsyncClient, renderer: str, sessions: int) -> list[str]:
    """The avatar of each session: the default for the warp renderer; for the diffusion renderer a
    different procedural avatar each."""
    if renderer != "diffusion":
        return ["default"] * sessions
    return await procedural_avatar_ids(http, sessions)


def _longest_gap_ms(times: list[float]) -> float | None:
    return round(1000 * max(b - a for a, b in itertools.pairwise(times)), 1) if len(times) > 1 else None


@contextlib.contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A detached checkout of ``revision`` in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="xactor-baseline-")) / "repo"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), revision],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(folder)], cwd=REPO, check=False, capture_output=True
        )
        shutil.rmtree(folder.parent, ignore_errors=True)


async def _level(
    repo: Path, extra_env: dict[str, str], sessions: int, cfg: SessionCpuConfig
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="xactor-cpu-") as tmp:
        env = {
            **extra_env,
            "XACTOR_MAX_SESSIONS": str(max(cfg.sessions) + 1),
            "XACTOR_PROCEDURAL_AVATARS": str(max(2, *cfg.sessions)),
        }
        async with local_server(Path(tmp), env=env, repo=repo, ready=True) as url:
            return await measure(url, sessions, cfg)


async def run(cfg: SessionCpuConfig) -> dict[str, Any]:
    codes: dict[str, tuple[Path, dict[str, str]]] = {}
    with contextlib.ExitStack() as stack:
        if cfg.baseline:
            codes[f"baseline {cfg.baseline}"] = (stack.enter_context(worktree(cfg.baseline)), {})
        codes["current"] = (REPO, {})
        if cfg.variant_env:
            codes["current, " + " ".join(f"{k}={v}" for k, v in cfg.variant_env)] = (
                REPO,
                dict(cfg.variant_env),
            )
        rows: list[dict[str, Any]] = []
        for _ in range(cfg.repeats):
            for sessions in cfg.sessions:
                for name, (repo, extra_env) in codes.items():
                    log.info("session cpu: %s, %d session(s)", name, sessions)
                    rows.append({"code": name, **await _level(repo, extra_env, sessions, cfg)})
    return {"duration_s": cfg.duration_s, "renderer": cfg.renderer, "rows": rows, "summary": summary(rows)}


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median cores per 25 fps session for each (code, sessions), and current ÷ baseline."""
    out = []
    keys = sorted({(r["code"], r["sessions"]) for r in rows}, key=lambda k: (k[1], k[0]))
    for code, sessions in keys:
        mine = [r for r in rows if r["code"] == code and r["sessions"] == sessions]
        per = [r["cores_per_25fps_session"] for r in mine if r["cores_per_25fps_session"] is not None]
        out.append(
            {
                "code": code,
                "sessions": sessions,
                "cores_per_25fps_session": statistics.median(per) if per else None,
                "min_fps_received": min(min(r["fps_received"]) for r in mine),
            }
        )
    for row in out:
        base = [b for b in out if b["code"].startswith("baseline") and b["sessions"] == row["sessions"]]
        if (
            row["code"] == "current"
            and base
            and base[0]["cores_per_25fps_session"]
            and row["cores_per_25fps_session"]
        ):
            row["ratio_to_baseline"] = round(
                row["cores_per_25fps_session"] / base[0]["cores_per_25fps_session"], 2
            )
    return out


def print_thread_budget(rows: list[dict[str, Any]], least_ms: float = 0.05) -> None:
    """Where each row's CPU went: ms per rendered frame by thread role (roles under ``least_ms``
    everywhere are left out)."""
    from rich.console import Console
    from rich.table import Table

    budgets = [r.get("cpu_ms_per_frame_by_thread") or {} for r in rows]
    roles = sorted(
        {k for b in budgets for k, v in b.items() if v >= least_ms},
        key=lambda k: -max(b.get(k, 0.0) for b in budgets),
    )
    if not roles:
        return
    table = Table(title="Server CPU ms per rendered frame, by thread")
    for column in ("code", "sessions", *roles, "all"):
        table.add_column(column)
    for r, b in zip(rows, budgets, strict=True):
        cells = [_cell(b.get(k), 1) for k in roles]
        table.add_row(r["code"], str(r["sessions"]), *cells, _cell(sum(b.values()), 1))
    Console().print(table)
    for r in rows:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in (r.get("stage_ms") or {}).items())
        if stages:
            print(f"{r['code']}, {r['sessions']} session(s), stage wall ms per call: {stages}")


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    renderer = result.get("renderer", "warp")
    table = Table(
        title=f"Server CPU per live session, {renderer} renderer ({result['duration_s']:g} s windows)"
    )
    columns = (
        "code",
        "sessions",
        "cores",
        "per session",
        "per 25 fps session",
        "fps (server)",
        "fps received",
    )
    for column in (*columns, "audio→frame p95 ms", "longest gap ms"):
        table.add_column(column)
    for r in result["rows"]:
        table.add_row(
            r["code"],
            str(r["sessions"]),
            _cell(r["cores"]),
            _cell(r["cores_per_session"]),
            _cell(r["cores_per_25fps_session"]),
            " / ".join(_cell(f, 1) for f in r["fps"]),
            " / ".join(_cell(f, 1) for f in r["fps_received"]),
            " / ".join(_cell(p, 0) for p in r["audio_to_frame_p95_ms"]),
            " / ".join(_cell(g, 0) for g in r["longest_gap_ms"]),
        )
    Console().print(table)
    print_thread_budget(result["rows"])
    for s in result["summary"]:
        ratio = f", {s['ratio_to_baseline']:.2f}× the baseline" if "ratio_to_baseline" in s else ""
        cost = _cell(s["cores_per_25fps_session"])
        print(f"{s['code']}, {s['sessions']} session(s): {cost} cores per 25 fps session{ratio}")
