"""What WHEP viewers cost the server: CPU and frame rates with 0, 1, 2, 4 ... viewers of one session.

One browser-like session (an aiortc :class:`~bench.live_client.LiveClient` sending espeak-ng
speech as its microphone) streams; for each viewer count, that many aiortc WHEP viewers
(``POST /sessions/{id}/whep``, receive-only) join, the run settles, and over ``seconds`` the
server's CPU (``process_cpu_seconds_total`` from /metrics, as % of one core), the session's fps
and each viewer's received video frames a second are read; then the viewers leave. A browser
session's viewers share its client's encode, so a viewer should cost its packetising and its
audio encode only, not a video encode.

    xactor bench viewers                       # starts a local server
    xactor bench viewers --url http://host:8000 --counts 0,1,4,8 --seconds 20
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from xactor.bench.latency import local_server, server_cpu_seconds
from xactor.bench.live_client import LiveClient, SignalTrack
from xactor.bench.speech import speech_with_onsets


@dataclass
class ViewersConfig:
    url: str | None = None  # None: start a local server
    token: str | None = None
    avatar: str = "default"
    counts: tuple[int, ...] = (0, 1, 2, 4)
    seconds: float = 15.0  # measured per count
    settle_s: float = 2.0  # after the viewers joined, before measuring
    codec: str = "h264"
    data_dir: Path | None = None
    server_env: dict[str, str] = field(default_factory=dict)


@dataclass
class _Viewer:
    pc: RTCPeerConnection | None = None
    location: str = ""
    video_frames: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def on_track(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.ensure_future(self.read(track)))

    async def read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                if track.kind == "video":
                    self.video_frames += 1

    async def close(self, http: httpx.AsyncClient, headers: dict[str, str]) -> None:
        if self.location:
            with contextlib.suppress(httpx.HTTPError):
                await http.delete(self.location, headers=headers)
        if self.pc is not None:
            await self.pc.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def whep_watch(
    http: httpx.AsyncClient,
    session_id: str,
    headers: dict[str, str],
    on_track: Callable[[MediaStreamTrack], None],
) -> tuple[RTCPeerConnection, httpx.Response]:
    """A receive-only WHEP viewer (video and audio): its offer POSTed to the session; the answer
    applied when it came (201). ``on_track`` gets each track as it arrives. The response is
    returned as it is, for the caller to judge."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    pc.on("track", on_track)
    await pc.setLocalDescription(await pc.createOffer())
    r = await http.post(
        f"/sessions/{session_id}/whep",
        content=pc.localDescription.sdp,
        headers={**headers, "Content-Type": "application/sdp"},
    )
    if r.status_code == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
    return pc, r


async def _join(http: httpx.AsyncClient, session_id: str, headers: dict[str, str]) -> _Viewer:
    viewer = _Viewer()
    viewer.pc, r = await whep_watch(http, session_id, headers, viewer.on_track)
    if r.status_code != 201:
        await viewer.close(http, headers)
        raise RuntimeError(f"WHEP answered {r.status_code}: {r.text}")
    viewer.location = r.headers["location"]
    return viewer


async def run_viewers(cfg: ViewersConfig, url: str) -> dict[str, Any]:
    """Measure each viewer count in ``cfg.counts`` on one session of the server at ``url``."""
    headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
    per_count = len(cfg.counts) * (cfg.seconds + cfg.settle_s + 3.0)
    timeline = speech_with_onsets(per_count + 5.0, period_s=3.0, lead_s=1.0, rate=48000)
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        client = LiveClient(http=http, token=cfg.token, keep_images=False)
        answer = await client.start(
            SignalTrack(timeline.signal), avatar_id=cfg.avatar, options={"codec": cfg.codec}
        )
        sid = answer["session_id"]
        try:
            await client.wait_frames(5, timeout=10.0)
            for count in cfg.counts:
                viewers = [await _join(http, sid, headers) for _ in range(count)]
                try:
                    await asyncio.sleep(cfg.settle_s)
                    cpu0 = server_cpu_seconds((await http.get("/metrics", headers=headers)).text)
                    frames0 = [v.video_frames for v in viewers]
                    t0 = time.monotonic()
                    await asyncio.sleep(cfg.seconds)
                    cpu1 = server_cpu_seconds((await http.get("/metrics", headers=headers)).text)
                    wall = time.monotonic() - t0
                    stats = (await http.get(f"/sessions/{sid}", headers=headers)).json()
                finally:
                    await asyncio.gather(*(v.close(http, headers) for v in viewers))
                fps = [round((v.video_frames - f0) / wall, 1) for v, f0 in zip(viewers, frames0, strict=True)]
                rows.append(
                    {
                        "viewers": count,
                        "server_cpu_percent": (
                            None if cpu0 is None or cpu1 is None else round(100 * (cpu1 - cpu0) / wall, 1)
                        ),
                        "session_fps": stats.get("fps"),
                        "viewer_fps_min": min(fps) if fps else None,
                        "encode": (stats.get("viewers") or {}).get("encode"),
                    }
                )
        finally:
            await client.stop()
    base = rows[0]["server_cpu_percent"] if rows and rows[0]["viewers"] == 0 else None
    for row in rows:
        cpu, n = row["server_cpu_percent"], row["viewers"]
        known = base is not None and cpu is not None and n > 0
        row["per_viewer_cpu_percent"] = round((cpu - base) / n, 1) if known else None
    return {"session": {"id": sid, "codec": answer["codec"]}, "seconds": cfg.seconds, "rows": rows}


async def viewers(cfg: ViewersConfig) -> dict[str, Any]:
    """Run against ``cfg.url``, or against a local server started for the run."""
    if cfg.url is not None:
        return await run_viewers(cfg, cfg.url)
    with tempfile.TemporaryDirectory(prefix="xactor-viewers-") as tmp:
        async with local_server(cfg.data_dir or Path(tmp), env=cfg.server_env) as url:
            return await run_viewers(cfg, url)


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    codec, seconds = result["session"]["codec"], result["seconds"]
    table = Table(title=f"WHEP viewers of one {codec} session ({seconds} s each)")
    columns = ("viewers", "server_cpu_percent", "per_viewer_cpu_percent", "session_fps", "viewer_fps_min")
    for col in columns:
        table.add_column(col.replace("_", " "), justify="right")
    for row in result["rows"]:
        table.add_row(*("–" if row[c] is None else str(row[c]) for c in columns))
    Console().print(table)
    encodes = {row["encode"] for row in result["rows"] if row["encode"]}
    Console().print(f"viewers' video: {', '.join(sorted(encodes)) or '–'}")
