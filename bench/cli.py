"""``xactor bench ...``: benchmarks (imports are lazy so ``xactor --help`` stays fast)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

log = logging.getLogger(__name__)


def _quiet_webrtc_logs() -> None:
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _report(
    result: dict[str, Any], print_report: Callable[[dict[str, Any]], None], json_out: Path | None
) -> None:
    """Print a benchmark's table and, when asked, write its whole result as JSON."""
    print_report(result)
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2))
        log.info("wrote %s", json_out)


# Options the benchmarks share: every one writes its result as JSON on request; those that talk
# to a server take its URL and token.
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write the full result here.")]
ServerUrl = Annotated[str | None, typer.Option(help="Server to measure (default: start a local one).")]
Token = Annotated[
    str | None, typer.Option(envvar="XACTOR_TOKEN", help="Bearer token, if the server needs one.")
]

bench_app = typer.Typer(
    help="Benchmarks: latency probe, session churn, overload, motion generator.", no_args_is_help=True
)


@bench_app.command("latency")
def latency(
    url: ServerUrl = None,
    token: Token = None,
    avatar: str = typer.Option("default", help="Avatar id."),
    duration: float = typer.Option(20.0, help="Seconds of audio to send (600 for the growth check)."),
    period: float = typer.Option(3.0, help="Seconds between phrase onsets."),
    lookahead: int | None = typer.Option(None, help="Session lookahead (frames)."),
    motion_source: str | None = typer.Option(None, help="Session motion source (default: the server's)."),
    resolution: int = typer.Option(256, help="Frame size."),
    codec: str | None = typer.Option(None, help="h264 or vp8."),
    bitrate: int | None = typer.Option(None, help="Video bits per second."),
    transport: bool = typer.Option(True, help="Also measure the audio transport alone."),
    marker_buffer: bool = typer.Option(
        True, help="Client releases video frames on the RTP marker bit like a browser (else aiortc's wait)."
    ),
    data_dir: Path | None = typer.Option(None, help="Data dir of a spawned server (default: a temp dir)."),
    return_audio: bool = typer.Option(
        False, help="The session returns its audio: also measure its offset from the jaw opening."
    ),
    json_out: JsonOut = None,
) -> None:
    """Mouth-to-photon latency of a live session, beside the server's stage timings."""
    from xactor.bench.latency import ProbeConfig, print_report, probe

    _quiet_webrtc_logs()
    if data_dir is not None:  # the spawned server's log goes there before the server makes it
        data_dir.mkdir(parents=True, exist_ok=True)

    cfg = ProbeConfig(
        url=url,
        token=token,
        avatar=avatar,
        duration_s=duration,
        period_s=period,
        lookahead=lookahead,
        motion_source=motion_source,
        resolution=resolution,
        codec=codec,
        bitrate=bitrate,
        transport=transport,
        marker_video_buffer=marker_buffer,
        data_dir=data_dir,
        return_audio=return_audio,
    )
    _report(asyncio.run(probe(cfg)), print_report, json_out)


@bench_app.command("churn")
def churn(
    url: ServerUrl = None,
    token: Token = None,
    sessions: int = typer.Option(300, min=1, help="Sessions to open and close, one after another."),
    half_open: int = typer.Option(0, min=0, help="Extra offers whose client never completes ICE."),
    round_size: int = typer.Option(25, min=1, help="Sessions between two readings of /health."),
    frames: int = typer.Option(5, min=1, help="Video frames each session waits for."),
    warmup_sessions: int = typer.Option(
        50, min=0, help="Rounds before this many sessions stay out of the growth fit (one-time costs)."
    ),
    avatar: str = typer.Option("default", help="Avatar id."),
    json_out: JsonOut = None,
) -> None:
    """Open and close many sessions; report server memory, threads, descriptors per session."""
    from xactor.bench.churn import ChurnConfig, print_report
    from xactor.bench.churn import churn as run

    _quiet_webrtc_logs()
    cfg = ChurnConfig(
        url=url,
        token=token,
        sessions=sessions,
        half_open=half_open,
        round_size=round_size,
        frames=frames,
        warmup_sessions=warmup_sessions,
        avatar=avatar,
    )
    _report(asyncio.run(run(cfg)), print_report, json_out)


@bench_app.command("soak")
def soak(
    url: ServerUrl = None,
    token: Token = None,
    duration: float = typer.Option(3600.0, min=1.0, help="Seconds to run (default one hour)."),
    seed: int = typer.Option(0, help="Seed of every random choice (what comes and goes, and when)."),
    faults: str = typer.Option(
        "all",
        help="Faults to inject: all, none, or a comma-separated subset of "
        "silent_rtmp, dead_rtmp, vanish, slow_reader, bad_offer.",
    ),
    concurrency: int = typer.Option(2, min=1, max=16, help="Sessions open at once (session slots)."),
    session_min: float = typer.Option(2.0, min=0.5, help="Shortest session, seconds."),
    session_max: float = typer.Option(6.0, min=0.5, help="Longest session, seconds."),
    sample: float | None = typer.Option(None, help="Seconds between samples (default duration/120, 5-30 s)."),
    warmup_sessions: int = typer.Option(50, min=0, help="Sessions left out of the memory fit."),
    avatar: str = typer.Option("default", help="Avatar id."),
    out: Annotated[Path | None, typer.Option("--out", "--json", help="Write the full result here.")] = None,
) -> None:
    """Sessions, WHEP viewers and RTMP outputs coming and going at random, with faults injected;
    server memory, threads, descriptors and /health latency over time, and a verdict."""
    from xactor.bench.soak import SoakConfig, parse_faults, print_report
    from xactor.bench.soak import soak as run

    _quiet_webrtc_logs()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        kinds = parse_faults(faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None
    if session_max < session_min:
        raise typer.BadParameter("--session-max is under --session-min", param_hint="--session-max")
    cfg = SoakConfig(
        url=url,
        token=token,
        duration_s=duration,
        seed=seed,
        faults=kinds,
        concurrency=concurrency,
        session_s=(session_min, session_max),
        sample_s=sample,
        warmup_sessions=warmup_sessions,
        avatar=avatar,
    )
    _report(asyncio.run(run(cfg)), print_report, out)


@bench_app.command("interrupt")
def interrupt(
    url: ServerUrl = None,
    token: Token = None,
    trials: int = typer.Option(3, min=1, help="Interruptions per motion source and mode."),
    source: list[str] = typer.Option(["heuristic", "generator"], help="Motion sources to measure."),
    json_out: JsonOut = None,
) -> None:
    """clear_buffer on a WebSocket session: frames until the mouth is closed, speech still heard."""
    from xactor.bench.interrupt import InterruptConfig, print_report, run

    cfg = InterruptConfig(url=url, token=token, trials=trials, sources=tuple(source))
    _report(asyncio.run(run(cfg)), print_report, json_out)


@bench_app.command("viewers")
def viewers(
    url: ServerUrl = None,
    token: Token = None,
    counts: str = typer.Option("0,1,2,4", help="Viewer counts to measure, comma-separated."),
    seconds: float = typer.Option(15.0, min=1.0, help="Seconds measured per count."),
    json_out: JsonOut = None,
) -> None:
    """WHEP viewers of one session: server CPU and frame rates per viewer count."""
    from xactor.bench.viewers import ViewersConfig, print_report
    from xactor.bench.viewers import viewers as run

    _quiet_webrtc_logs()
    try:
        parsed = tuple(int(c) for c in counts.split(","))
    except ValueError:
        raise typer.BadParameter(f"--counts wants integers like 0,1,2,4, got {counts!r}") from None
    cfg = ViewersConfig(url=url, token=token, counts=parsed, seconds=seconds)
    _report(asyncio.run(run(cfg)), print_report, json_out)


@bench_app.command("load")
def load(
    multiples: str = typer.Option("1,2,4", help="Loads to run, as multiples of the measured capacity."),
    duration: float = typer.Option(15.0, min=1.0, help="Seconds each load runs."),
    json_out: JsonOut = None,
) -> None:
    """Sessions at 1×, 2×, 4× the measured capacity: fps, drops and audio-to-frame latency of each."""
    from xactor.bench.load import LoadConfig, print_report
    from xactor.bench.load import load as run

    _quiet_webrtc_logs()
    cfg = LoadConfig(multiples=tuple(float(m) for m in multiples.split(",")), duration_s=duration)
    _report(asyncio.run(run(cfg)), print_report, json_out)


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{item!r}: expected KEY=VALUE")
    return key, value


@bench_app.command("cpu")
def session_cpu(
    sessions: str = typer.Option("1,2", help="Session counts to measure, each on a fresh server."),
    duration: float = typer.Option(20.0, min=2.0, help="Seconds of each measuring window."),
    baseline: str | None = typer.Option(None, help="A git revision measured beside the current code."),
    repeats: int = typer.Option(1, min=1, help="Times to run every level."),
    renderer: str = typer.Option(
        "warp", help="warp (default avatar) or diffusion (each session its own procedural avatar)."
    ),
    variant_env: list[str] = typer.Option(
        [], help="KEY=VALUE server setting measured as another row beside the defaults (repeatable)."
    ),
    json_out: JsonOut = None,
) -> None:
    """Server CPU per live session (its own process_cpu_seconds_total), optionally beside a baseline."""
    from xactor.bench.session_cpu import SessionCpuConfig, print_report, run

    _quiet_webrtc_logs()
    cfg = SessionCpuConfig(
        sessions=tuple(int(n) for n in sessions.split(",")),
        duration_s=duration,
        baseline=baseline,
        repeats=repeats,
        renderer=renderer,
        variant_env=tuple(_key_value(item) for item in variant_env),
    )
    _report(asyncio.run(run(cfg)), print_report, json_out)


@bench_app.command("cluster")
def cluster(
    replicas: int = typer.Option(2, min=1, help="Worker replicas of the cluster."),
    sessions: int = typer.Option(2, min=1, help="Sessions live at once, in both modes."),
    offers: int = typer.Option(10, min=1, help="Sessions opened one after another for the signalling times."),
    duration: float = typer.Option(15.0, min=1.0, help="Seconds the sessions stream at once."),
    json_out: JsonOut = None,
) -> None:
    """The Ray Serve cluster (xactor serve --ray local) against one process, same machine, same load."""
    from xactor.bench.cluster import ClusterBenchConfig, print_report, run

    _quiet_webrtc_logs()
    cfg = ClusterBenchConfig(replicas=replicas, sessions=sessions, offers=offers, duration_s=duration)
    _report(asyncio.run(run(cfg)), print_report, json_out)


@bench_app.command("motion")
def motion(
    weights_dir: Path | None = typer.Option(None, help="Generator weights (default: the shipped ones)."),
    threads: str = typer.Option("2,1", help="torch thread counts to measure, in turn."),
    steps: int = typer.Option(60, min=1, help="Timed steps of one session."),
    sessions: int = typer.Option(8, min=1, help="Independent sessions stepped one after another per frame."),
    session_frames: int = typer.Option(12, min=1, help="Timed frames of the multi-session loop."),
    source_frames: int = typer.Option(30, min=1, help="Timed frames of the whole motion source."),
    json_out: JsonOut = None,
) -> None:
    """One streaming step of the motion generator (teacher, student): 1 and N sessions, and the source."""
    from xactor.bench.motion import MotionBenchConfig, print_report
    from xactor.bench.motion import run as run_motion

    cfg = MotionBenchConfig(
        weights_dir=weights_dir,
        threads=tuple(int(t) for t in threads.split(",")),
        steps=steps,
        sessions=sessions,
        session_frames=session_frames,
        source_frames=source_frames,
    )
    try:
        result = run_motion(cfg)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--weights-dir") from None
    _report(result, print_report, json_out)


@bench_app.command("encode")
def encode(
    presets: str = typer.Option("veryfast,superfast,ultrafast", help="libx264 presets, in turn."),
    vp8: bool = typer.Option(True, help="Also VP8 (the fallback codec)."),
    size: int = typer.Option(256, help="Frame side in pixels: 256 or 512 (the default avatar's crops)."),
    bitrate: int = typer.Option(600_000, min=50_000, help="Video bits per second."),
    frames: int = typer.Option(250, min=10, help="Rendered frames encoded per setting."),
    rounds: int = typer.Option(2, min=1, help="Interleaved rounds of every setting."),
    json_out: JsonOut = None,
) -> None:
    """The video encoder's ms per frame and PSNR by H.264 preset (and VP8), on rendered frames."""
    from xactor.bench.encode import EncodeBenchConfig, print_report
    from xactor.bench.encode import run as run_encode

    cfg = EncodeBenchConfig(
        presets=tuple(presets.split(",")), vp8=vp8, size=size, bitrate=bitrate, frames=frames, rounds=rounds
    )
    _report(run_encode(cfg), print_report, json_out)


@bench_app.command("engines")
def engines(
    weights_dir: Path | None = typer.Option(None, help="Generator weights (default: the shipped ones)."),
    batches: str = typer.Option("1,2,4,8,16", help="Sessions per motion-step call, in turn."),
    sizes: str = typer.Option("256,512", help="Render sizes."),
    repeats: int = typer.Option(30, min=3, help="Timed calls per row."),
    sessions: str = typer.Option("1,2,4,8,16", help="Sessions in the measured render-worker turn."),
    ticks: int = typer.Option(25, min=2, help="Timed worker turns per session count."),
    json_out: JsonOut = None,
) -> None:
    """Each stage by backend and batch size (motion step, render) and the sessions a process holds."""
    from xactor.bench.engines import EnginesBenchConfig, print_report
    from xactor.bench.engines import run as run_engines

    cfg = EnginesBenchConfig(
        weights_dir=weights_dir,
        batches=tuple(int(b) for b in batches.split(",")),
        render_sizes=tuple(int(s) for s in sizes.split(",")),
        repeats=repeats,
        worker_sessions=tuple(int(n) for n in sessions.split(",")),
        ticks=ticks,
    )
    _report(run_engines(cfg), print_report, json_out)


@bench_app.command("diffusion")
def diffusion(
    weights_dir: Path | None = typer.Option(
        None, help="Folder with render_student (default: the shipped one)."
    ),
    steps: str = typer.Option("1,2,4,8", help="Sampling steps, in turn."),
    batches: str = typer.Option("1,4", help="Frames per call, in turn."),
    sizes: str = typer.Option("256,512", help="Session sizes (the output is upsampled to them)."),
    avatars: str = typer.Option("2,4", help="Different avatars rendered one frame each, alone and together."),
    repeats: int = typer.Option(20, min=3, help="Timed calls per row."),
    live: float = typer.Option(
        0.0, help="Also run a live session on a procedural avatar for this many seconds."
    ),
    motion_source: str = typer.Option("generator", help="The live session's motion source."),
    json_out: JsonOut = None,
) -> None:
    """The diffusion renderer's ms per frame by steps, batch and size, beside the warp renderer;
    with ``--live S``, a live session through it (fps and stage timings) beside one through warp."""
    from xactor.bench.diffusion import DiffusionBenchConfig, markdown
    from xactor.bench.diffusion import run as run_diffusion

    cfg = DiffusionBenchConfig(
        weights_dir=weights_dir,
        steps=tuple(int(s) for s in steps.split(",")),
        batches=tuple(int(b) for b in batches.split(",")),
        sizes=tuple(int(s) for s in sizes.split(",")),
        avatars=tuple(int(a) for a in avatars.split(",")),
        repeats=repeats,
    )
    result = run_diffusion(cfg)
    if live > 0:
        from xactor.bench.diffusion import live_session

        _quiet_webrtc_logs()
        result["live"] = [
            asyncio.run(live_session(live, motion_source, renderer, weights_dir=weights_dir))
            for renderer in ("diffusion", "warp")
        ]
    _report(result, lambda r: typer.echo(markdown(r)), json_out)
