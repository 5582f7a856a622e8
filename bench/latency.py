"""Mouth-to-photon latency probe: speech with known onsets in, mouth opening detected in the video out.

An aiortc client (bench/live_client.py) sends an espeak-ng speech timeline — silence, then a
phrase every ``period_s`` — as its microphone to a running server (or one it starts), receives the
video, and finds in it the first frame after each onset whose mouth region has left its closed
state (bench/mouth.py). Latency = that frame's arrival − the send time of the audio packet holding
the onset, on one monotonic clock. Beside it, it reports the server's own timings (GET /sessions/
{id}: audio arrival → encoder per frame, per stage) and, measured separately, the audio
transport: an in-process aiortc pair on loopback, send → server track, for aiortc's jitter buffer
(prefetch 4) and for ours. A long run (``--duration 600``) reports whether latency grows.

    xactor bench latency                      # starts a local server (log: <data dir>/probe-server.log)
    xactor bench latency --url http://host:8000 --duration 600 --json out.json

What mouth-to-photon includes: Opus encode + network + server jitter buffer + decode + resample +
motion (with its lookahead) + render + encode + RTP + client video decode, and the time the
animated jaw takes to open past the detector's threshold. What it does not: the sender's 20 ms
capture (the probe's audio exists before it is sent) and the browser's own buffers and display.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from xactor.bench.live_client import LiveClient, ReceivedFrame, SignalTrack
from xactor.bench.mouth import Box, OpeningDetector, find_mouth_box
from xactor.bench.speech import SpeechTimeline, speech_with_onsets
from xactor.server.live.encoding import VIDEO_CLOCK

log = logging.getLogger(__name__)

RETURN_ONSET = 600 / 32768  # about -35 dBFS: the onset level of bench.speech, returned

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ProbeConfig:
    url: str | None = None  # None: start a local server
    token: str | None = None
    avatar: str = "default"
    duration_s: float = 20.0
    period_s: float = 3.0
    lead_s: float = 2.0
    lookahead: int | None = None
    motion_source: str | None = None  # None: the server's default
    resolution: int = 256
    codec: str | None = None
    bitrate: int | None = None
    transport: bool = True  # also measure the audio transport alone
    transport_seconds: float = 4.0  # per jitter-buffer setting (8 tone bursts)
    marker_video_buffer: bool = True  # client releases video frames on the marker bit (browser-like)
    data_dir: Path | None = None  # for a spawned server (default: a temp copy-free dir)
    decompose_s: float = 60.0  # re-run this much of the timeline offline to split off the algorithmic part
    server_env: dict[str, str] = field(default_factory=dict)
    return_audio: bool = False  # the session returns its input audio: measure its offset from the jaw


# ---- the audio transport alone --------------------------------------------------------------------


async def measure_audio_transport(prefetch: int | None, seconds: float = 4.0) -> list[float]:
    """Send → receiving track latency (ms) of 20 ms tone bursts over aiortc on loopback.

    ``prefetch`` None keeps aiortc's jitter buffer (prefetch 4); an int installs ours
    (server.live.transport), 0 releasing every packet at once.
    """
    from aiortc import RTCConfiguration, RTCPeerConnection

    from xactor.server.live.transport import configure_audio_receivers

    rate = 48000
    period = int(0.5 * rate)
    t = np.arange(int(seconds * rate))
    signal = np.where((t % period) < 960, 0.5 * np.sin(2 * np.pi * 440 * t / rate), 0.0).astype(np.float32)
    track = SignalTrack(signal)
    # Loopback only: no configuration would make aiortc ask a public STUN server.
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    arrivals: list[float] = []

    @receiver.on("track")
    def on_track(remote: Any) -> None:
        async def read() -> None:
            from aiortc.mediastreams import MediaStreamError

            was_on = False
            try:
                while True:
                    frame = await remote.recv()
                    on = float(np.abs(frame.to_ndarray()).max()) > 4000
                    if on and not was_on:
                        arrivals.append(time.monotonic())
                    was_on = on
            except MediaStreamError:
                pass

        tasks.append(asyncio.ensure_future(read()))

    tasks: list[asyncio.Task[None]] = []
    try:
        sender.addTransceiver(track, direction="sendonly")
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        if prefetch is not None:
            configure_audio_receivers(receiver, prefetch)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        await asyncio.sleep(seconds + 0.3)
    finally:
        await sender.close()
        await receiver.close()
        for task in tasks:
            task.cancel()
    sent = [track.sent[i] for i in range(0, len(track.sent), period // 960)]
    return [round((a - s) * 1000, 2) for a, s in zip(arrivals, sent, strict=False) if 0 <= a - s < 1.0]


# ---- a local server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def local_server(
    data_dir: Path,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    start_s: float = 60.0,
    repo: Path = REPO,
    ready: bool = False,
) -> AsyncIterator[str]:
    """``xactor serve`` (with ``args``: ``--ray local`` for the cluster) in a subprocess on a free
    port, from the checkout ``repo`` (another revision's worktree, for before/after benchmarks);
    yields its base URL once ``/health`` answers, or with ``ready`` once the start-up warm-up is
    over (``/ready``), so that nothing measured pays for it, within ``start_s``. (Tests that only
    need a server take the first: its first session waits for the same work.)"""
    port = _free_port()
    cli = [sys.executable, "-c", "from xactor.cli.main import app; app()"]
    cmd = [*cli, "serve", "--port", str(port), *args]
    full_env = {**os.environ, "PYTHONPATH": str(repo), "XACTOR_DATA_DIR": str(data_dir), **(env or {})}
    log_file = open(data_dir / "probe-server.log", "ab")  # noqa: SIM115  (closed in finally)
    proc = subprocess.Popen(cmd, cwd=repo, env=full_env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            end = time.monotonic() + start_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if await _answers(http, url, ready):
                        break
                if time.monotonic() > end:
                    raise TimeoutError(f"server did not come up in {start_s:g} s")
                await asyncio.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()


async def _answers(http: httpx.AsyncClient, url: str, ready: bool) -> bool:
    """The server at ``url`` is alive, or with ``ready`` warmed up (``/ready`` 200; a server without
    that route, an older revision or the Ray ingress, counts as warm once alive)."""
    reply = await http.get(f"{url}/ready") if ready else None
    if reply is None or reply.status_code == 404:
        reply = await http.get(f"{url}/health")
    return reply.status_code == 200


# ---- the probe ------------------------------------------------------------------------------------


def silent_mask(t: np.ndarray, start: float, onsets: list[float], ends: list[float]) -> np.ndarray:
    """Frames [T] surely silent, by their times ``t``: from 0.3 s after ``start`` to the first onset,
    and in each gap from 0.6 s after a phrase ends to the next onset (the jaw has closed by then)."""
    silent = (t > start + 0.3) & (t < onsets[0])
    for end, next_on in zip(ends, [*onsets[1:], float("inf")], strict=True):
        silent |= (t > end + 0.6) & (t < next_on)
    return silent


async def _mouth_box(
    http: httpx.AsyncClient, avatar: str, size: int, headers: dict[str, str]
) -> tuple[str, Box]:
    from PIL import Image

    meta = (await http.get(f"/avatars/{avatar}", headers=headers)).raise_for_status().json()
    png = (await http.get(f"/avatars/{meta['id']}/crop.png", params={"size": size}, headers=headers)).content
    crop = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return meta["id"], await asyncio.to_thread(find_mouth_box, crop)


def percentiles(values: list[float]) -> dict[str, float] | None:
    """p50 / p95 / max / n of ``values`` (in the caller's unit, rounded to 0.1); None when empty."""
    if not values:
        return None
    v = np.asarray(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(v, 50)), 1),
        "p95": round(float(np.percentile(v, 95)), 1),
        "max": round(float(v.max()), 1),
        "n": int(v.size),
    }


async def run_probe(cfg: ProbeConfig, url: str, avatars_root: Path | None = None) -> dict[str, Any]:
    """One probe run against the server at ``url``; returns the measurements (times in ms).

    With ``avatars_root`` (the server's avatar store, when local) the algorithmic part of each
    onset's latency is measured offline too (:func:`offline_algorithmic`).
    """
    timeline = speech_with_onsets(cfg.duration_s, period_s=cfg.period_s, lead_s=cfg.lead_s, rate=48000)
    headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
    options: dict[str, Any] = {"resolution": cfg.resolution}
    for key, value in (
        ("lookahead", cfg.lookahead),
        ("codec", cfg.codec),
        ("bitrate", cfg.bitrate),
        ("motion_source", cfg.motion_source),
    ):
        if value is not None:
            options[key] = value
    if cfg.return_audio:
        options["return_audio"] = True
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        avatar_id, box = await _mouth_box(http, cfg.avatar, cfg.resolution, headers)

        def cut(image: np.ndarray) -> np.ndarray:
            return box.cut(image)[::2, ::2].astype(np.uint8)  # half resolution, uint8: 10 min fit in RAM

        client = LiveClient(
            http=http,
            token=cfg.token,
            keep_images=False,
            analyse=cut,
            marker_video_buffer=cfg.marker_video_buffer,
        )
        track = SignalTrack(timeline.signal)
        answer = await client.start(track, avatar_id=avatar_id, options=options)
        snapshots: list[dict[str, Any]] = []
        metrics_text = (await http.get("/metrics", headers=headers)).text
        cpu_start = (server_cpu_seconds(metrics_text), time.process_time())
        wall_start = time.monotonic()
        try:
            await client.wait_frames(1, timeout=10.0)
            first_frame_ms = (client.frames[0].t - (client.offer_done or 0)) * 1000
            end = time.monotonic() + cfg.duration_s + 1.0
            while time.monotonic() < end:
                await asyncio.sleep(min(5.0, max(end - time.monotonic(), 0.0)))
                stats = await client.stats()
                stats["t"] = time.monotonic() - track.sent[0]
                snapshots.append(stats)
            metrics_text = (await http.get("/metrics", headers=headers)).text
            wall = time.monotonic() - wall_start
            cpu_end = (server_cpu_seconds(metrics_text), time.process_time())
        finally:
            await client.stop()

    times = np.array([f.t for f in client.frames])
    crops = np.stack([f.value for f in client.frames]).astype(np.float32)

    def t_send(sample: int) -> float:
        t = track.send_time(sample)
        return float("inf") if t is None else t

    onset_times = [t_send(o) for o in timeline.onsets]
    silent = silent_mask(times, t_send(0), onset_times, [t_send(e) for e in timeline.ends])
    detector = OpeningDetector.calibrate(crops, silent)

    latencies: list[float] = []
    return_offsets: list[float] = []  # jaw opening minus returned-audio onset, ms
    per_onset: list[dict[str, float | None]] = []
    for i, t_on in enumerate(onset_times):
        t_next = onset_times[i + 1] if i + 1 < len(onset_times) else float("inf")
        window = np.nonzero((times > t_on) & (times < min(t_on + 1.0, t_next)))[0]
        hit = detector.first_opening(crops[times <= t_on], crops[window])
        latency = (times[window[hit]] - t_on) * 1000 if hit is not None else None
        per_onset.append(
            {"t_s": round(t_on - track.sent[0], 2), "ms": None if latency is None else round(latency, 1)}
        )
        if latency is not None:
            latencies.append(latency)
            if cfg.return_audio:  # the returned voice's onset vs the frame that opened the jaw
                sound = [t for t, peak in client.audio_peaks if t >= t_on - 0.02 and peak > RETURN_ONSET]
                if sound and sound[0] < t_on + 1.0:
                    return_offsets.append(float(times[window[hit]] - sound[0]) * 1000)

    span = times[-1] - times[0] if times.size > 1 else 0.0
    final = snapshots[-1] if snapshots else {}
    trips = video_trips(client.frames, final.get("video_clock_origin_s"))
    result: dict[str, Any] = {
        "config": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items() if k != "server_env"
        },
        "session": {"id": answer["session_id"], "codec": answer["codec"], "options": answer["options"]},
        "frames_received": int(times.size),
        "client_fps": round(times.size / span, 2) if span else None,
        "first_frame_ms": round(first_frame_ms, 1),
        # Gaps between received frames: a stall shows here (the max), not in the mean fps.
        "frame_gap_ms": percentiles([float(x) * 1000 for x in np.diff(times)]),
        "mouth_to_photon_ms": percentiles(latencies),
        # The server taking a frame for encoding → the client holding it decoded (same host).
        "video_trip_ms": percentiles(trips),
        # return_audio: jaw opening minus the returned voice's onset at the client (audio of
        # frame k leaves with frame k; the jaw may lead by a frame of lookahead). None otherwise.
        "return_audio_offset_ms": percentiles(return_offsets) if cfg.return_audio else None,
        "onsets_detected": f"{len(latencies)}/{len(timeline.onsets)}",
        "per_onset": per_onset,
        "detector": {
            "threshold": round(detector.threshold, 2),
            "noise_median": round(detector.noise_median, 2),
            "noise_mad": round(detector.noise_mad, 2),
        },
        "server": {
            "latency_ms": final.get("latency_ms"),
            "stages_ms": final.get("stages_ms"),
            "fps": final.get("fps"),
            "frames_sent": final.get("frames_sent"),
            "frames_repeated": final.get("frames_repeated"),
            "frames_dropped": final.get("frames_dropped"),
            "first_frame_ms": final.get("first_frame_ms"),
        },
        "server_whole_run_ms": histogrampercentiles(metrics_text),
        "cpu_percent": {  # of one core, over the streaming part of the run
            "server": _percent(cpu_start[0], cpu_end[0], wall),
            "probe_client": _percent(cpu_start[1], cpu_end[1], wall),
        },
        "growth": _growth(per_onset, snapshots),
        "server_series": [
            {"t_s": round(x["t"], 1), **(x.get("latency_ms", {}).get("audio_to_encoder") or {})}
            for x in snapshots
        ],
    }
    if avatars_root is not None and cfg.decompose_s > 0:
        lookahead = int(answer["options"]["lookahead"])
        source_name = str(
            (final.get("motion_source") or {}).get("name") or answer["options"]["motion_source"]
        )
        offset16 = int((final.get("audio") or {}).get("first_mic_sample") or 0)
        algorithmic = await asyncio.to_thread(
            offline_algorithmic,
            timeline,
            avatars_root,
            avatar_id,
            cfg.resolution,
            lookahead,
            box,
            cfg.decompose_s,
            offset16,
            source_name,
        )
        pairs = [
            (a, p["ms"])
            for a, p in zip(algorithmic, per_onset, strict=False)
            if a is not None and p["ms"] is not None
        ]
        result["decomposition_ms"] = {
            "onsets": len(pairs),
            "per_onset_algorithmic": algorithmic,
            "algorithmic": percentiles([a for a, _ in pairs]),
            "rest (compute + transport + decode)": percentiles([m - a for a, m in pairs]),
        }
    if cfg.transport:
        result["audio_transport_ms"] = {
            "aiortc_default_prefetch_4": percentiles(
                await measure_audio_transport(None, cfg.transport_seconds)
            ),
            "prefetch_1": percentiles(await measure_audio_transport(1, cfg.transport_seconds)),
            "ours_prefetch_0": percentiles(await measure_audio_transport(0, cfg.transport_seconds)),
        }
    return result


def server_cpu_seconds(metrics_text: str) -> float | None:
    """The server process's CPU seconds (prometheus-client's ``process_cpu_seconds_total``; Linux)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics_text):
        if family.name == "process_cpu_seconds":
            return float(family.samples[0].value)
    return None


def video_trips(frames: list[ReceivedFrame], clock_origin: float | None) -> list[float]:
    """Per received frame, ms from the server taking it for encoding to the client holding it
    decoded: encode, RTP, transport, the client's buffer and decoder. Server and client read one
    monotonic clock (same host). RTP timestamps start at a random origin, so the first frame
    received stands for the server's pts 0: right when it was the first sent (a loopback session
    loses none; a lost first frame shows as trips one or more frame intervals short, even below 0).
    """
    stamped = [f for f in frames if f.pts is not None]
    if clock_origin is None or not stamped:
        return []
    first = int(stamped[0].pts or 0)
    return [(f.t - clock_origin - ((int(f.pts or 0) - first) % 2**32) / VIDEO_CLOCK) * 1000 for f in stamped]


def _percent(start: float | None, end: float | None, wall: float) -> float | None:
    return None if start is None or end is None or wall <= 0 else round(100 * (end - start) / wall, 1)


def histogrampercentiles(metrics_text: str) -> dict[str, dict[str, float]]:
    """p50/p95 (ms, linear within buckets) of the server's latency and stage histograms, whole run.

    The rolling stats of GET /sessions cover the last 250 frames; /metrics covers every frame (of
    every session since the server started: run the probe against a fresh server).
    """
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.type != "histogram":
            continue
        for sample in family.samples:
            if not sample.name.endswith("_bucket"):
                continue
            key = family.name.removeprefix("xactor_")
            if "stage" in sample.labels:
                key = f"stage_{sample.labels['stage']}"
            buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
    out: dict[str, dict[str, float]] = {}
    for key, pairs in buckets.items():
        pairs.sort()
        total = pairs[-1][1]
        if total <= 0:
            continue
        row: dict[str, float] = {"n": int(total)}
        for q in (0.5, 0.95):
            target, lo_le, lo_count = q * total, 0.0, 0.0
            for le, count in pairs:
                if count >= target:
                    if le == float("inf"):
                        row[f"p{int(q * 100)}"] = round(lo_le * 1000, 1)
                    else:
                        frac = (target - lo_count) / max(count - lo_count, 1e-9)
                        row[f"p{int(q * 100)}"] = round((lo_le + frac * (le - lo_le)) * 1000, 1)
                    break
                lo_le, lo_count = le, count
        out[key] = row
    return out


def _growth(per_onset: list[dict[str, float | None]], snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency trend over the run: least-squares slope (ms per minute) and first vs last minute."""
    points = [(p["t_s"], p["ms"]) for p in per_onset if p["ms"] is not None]
    out: dict[str, Any] = {}
    if len(points) >= 20:  # a trend needs a long run (minutes)
        t, ms = np.array(points, dtype=np.float64).T
        out["mouth_to_photon_slope_ms_per_min"] = round(float(np.polyfit(t / 60, ms, 1)[0]), 2)
        first, last = ms[t < min(60.0, t.max() / 2)], ms[t > max(t.max() - 60, t.max() / 2)]
        out["mouth_to_photon_first_vs_last_p50"] = [
            round(float(np.median(first)), 1),
            round(float(np.median(last)), 1),
        ]
    server = [
        (s["t"], s["latency_ms"]["audio_to_encoder"]["p50"])
        for s in snapshots
        if s.get("latency_ms", {}).get("audio_to_encoder")
    ]
    if len(server) >= 12:
        t, ms = np.array(server, dtype=np.float64).T
        out["server_slope_ms_per_min"] = round(float(np.polyfit(t / 60, ms, 1)[0]), 3)
        out["server_p50_first_vs_last"] = [round(float(ms[0]), 2), round(float(ms[-1]), 2)]
    return out


def offline_algorithmic(
    timeline: SpeechTimeline,
    avatars_root: Path,
    avatar_id: str,
    size: int,
    lookahead: int,
    box: Box,
    max_s: float,
    offset16: int = 0,
    motion_source: str = "heuristic",
) -> list[float | None]:
    """The part of mouth-to-photon no compute or network can remove, per onset (ms).

    Runs the same motion source and renderer offline (no codec, no transport, no clock) on the
    first ``max_s`` seconds of the timeline, finds the first frame whose mouth passes the same
    detector, and converts the wait for that frame's newest audio sample (its own 40 ms, the
    lookahead, the jaw's rise) into the probe's send-time terms: the 20 ms packet holding that
    sample leaves this long after the packet holding the onset. ``offset16`` is where the live
    session's stream had the first mic sample (the silence fed before the first packet): it sets
    the 40 ms frame grid's phase against the speech, which decides whether an onset just makes a
    frame or waits for the next.
    """
    import soxr

    from xactor.engines.avatar.store import AvatarStore
    from xactor.engines.motion_source.base import MotionSourceOptions, create_motion_source
    from xactor.engines.warp.renderer import AvatarRenderer

    rate = timeline.rate
    x16 = soxr.resample(timeline.signal[: int(max_s * rate)], rate, 16000).astype(np.float32)
    source = create_motion_source(motion_source, MotionSourceOptions(lookahead_frames=lookahead, seed=0))
    source.push_audio(np.concatenate([np.zeros(offset16, np.float32), x16]))
    frames = source.pull()
    renderer = AvatarRenderer.from_bundle(AvatarStore(avatars_root).get(avatar_id), size=size)
    crops = []
    for i in range(0, len(frames), 16):
        motion = np.stack([f.motion for f in frames[i : i + 16]]).astype(np.float32)  # [B, 40]
        crops += [box.cut(img)[::2, ::2].astype(np.uint8) for img in renderer.render(motion)]
    stack = np.stack(crops).astype(np.float32)
    t_frame = (np.arange(len(frames)) + 0.5) * 0.04 - offset16 / 16000  # signal time of each frame's centre
    avail = (
        np.arange(len(frames)) + 1 + lookahead
    ) * 640 - offset16  # signal samples (16 kHz) a frame waits for
    onsets = [o for o in timeline.onsets if o < x16.size * 3]
    ends = timeline.ends[: len(onsets)]
    silent = silent_mask(t_frame, 0.0, [o / rate for o in onsets], [e / rate for e in ends])
    detector = OpeningDetector.calibrate(stack, silent)
    out: list[float | None] = []
    for onset in onsets:
        o16 = onset // 3
        window = np.nonzero((avail > o16) & (avail < o16 + 16000))[0]
        hit = detector.first_opening(stack[avail <= o16], stack[window])
        if hit is None:
            out.append(None)
            continue
        newest48 = (int(avail[window[hit]]) - 1) * 3
        out.append(float((newest48 // 960 - onset // 960) * 20))
    return out


async def probe(cfg: ProbeConfig) -> dict[str, Any]:
    """Run against ``cfg.url``, or start a local server first."""
    if cfg.url:
        return await run_probe(cfg, cfg.url)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = cfg.data_dir or Path(tmp)
        async with local_server(data_dir, cfg.server_env, ready=True) as url:
            return await run_probe(cfg, url, avatars_root=data_dir / "avatars")


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(s: dict[str, float] | None) -> str:
        return "–" if not s else f"{s['p50']:.1f} / {s['p95']:.1f}  (n={s['n']})"

    table = Table(title="xactor latency probe (ms: p50 / p95)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("mouth-to-photon (client)", fmt(result["mouth_to_photon_ms"]))
    table.add_row("onsets detected", result["onsets_detected"])
    server = result["server"]
    lat = server.get("latency_ms") or {}
    table.add_row("server: newest audio sample → encoder", fmt(lat.get("audio_to_encoder")))
    table.add_row("server: frame's own audio → encoder", fmt(lat.get("own_audio_to_encoder")))
    table.add_row("server: newest audio sample → RTP", fmt(lat.get("audio_to_send")))
    table.add_row("video trip: server encode start → client decoded", fmt(result.get("video_trip_ms")))
    for stage, s in (server.get("stages_ms") or {}).items():
        table.add_row(f"server stage: {stage}", fmt(s))
    for name, s in (result.get("audio_transport_ms") or {}).items():
        table.add_row(f"audio transport, {name}", fmt(s))
    table.add_row(
        "first frame after answer (client / server)",
        f"{result['first_frame_ms']} / {server.get('first_frame_ms')}",
    )
    table.add_row("fps (client / server)", f"{result['client_fps']} / {server.get('fps')}")
    gaps = result.get("frame_gap_ms")
    table.add_row("client: gap between frames", fmt(gaps) + (f", max {gaps['max']:.1f}" if gaps else ""))
    if result.get("return_audio_offset_ms") is not None:
        table.add_row("client: jaw opening − returned-audio onset", fmt(result["return_audio_offset_ms"]))
    cpu = result.get("cpu_percent") or {}
    table.add_row(
        "CPU % of one core (server / probe client)", f"{cpu.get('server')} / {cpu.get('probe_client')}"
    )
    table.add_row(
        "frames repeated / dropped", f"{server.get('frames_repeated')} / {server.get('frames_dropped')}"
    )
    for key, s in (result.get("decomposition_ms") or {}).items():
        if isinstance(s, dict):
            table.add_row(f"mouth-to-photon part: {key}", fmt(s))
    for key, s in result.get("server_whole_run_ms", {}).items():
        if not key.startswith("stage_") and key != "first_frame_seconds":
            table.add_row(f"server, whole run (histogram): {key}", fmt(s))
    for key, value in result["growth"].items():
        table.add_row(key, str(value))
    Console().print(table)
