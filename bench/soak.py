"""Soak: sessions, viewers and outputs coming and going at random for a long time, with faults.

A server that runs for days meets every kind of client. For ``duration`` seconds this benchmark
keeps ``concurrency`` session slots busy against a server it starts on 127.0.0.1 (or ``--url``):
each slot opens a session, keeps it a few seconds and ends it, over and over. A session is a
WebRTC one (bench/live_client.py; WHEP viewers join and leave it, RTMP outputs are added and
removed) or a WebSocket one (``WS /sessions/stream``). Faults are injected at random (``faults``):

* ``silent_rtmp``: an RTMP output to a loopback TCP listener that accepts and never speaks RTMP;
* ``dead_rtmp``: an RTMP output to a loopback port where nothing listens (connection refused);
* ``vanish``: clients that go away without saying so: a WebRTC peer that closes without DELETE,
  a WHEP viewer that closes without DELETE, a WebSocket dropped mid-stream (TCP abort, no close);
* ``slow_reader``: a WebSocket client (raw RGB frames) that stops reading and keeps talking;
* ``bad_offer``: malformed SDP, an offer without its DTLS fingerprint, a malformed WHEP offer, a
  WebSocket whose first message is binary.

Meanwhile a separate process times ``GET /health`` every ``probe_s`` (so the client's own work does
not count as the server's lag), and every ``sample_s`` the run reads ``/health``'s process block
(resident memory, threads, descriptors, asyncio tasks) and any ``loop_lag`` / ``stall`` series of
``/metrics``. The verdict: flat memory (≤ 0.2 MB per session: least-squares slope of RSS against
sessions opened, after ``warmup_sessions``), ``/health`` p99 ≤ 20 ms, no stall over 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from xactor.bench.churn import _slope, _speech_like
from xactor.bench.live_client import LiveClient, SignalTrack

log = logging.getLogger(__name__)

FAULTS = ("silent_rtmp", "dead_rtmp", "vanish", "slow_reader", "bad_offer")
GOAL_MB_PER_SESSION = 0.2
GOAL_HEALTH_P99_MS = 20.0
GOAL_STALL_MS = 100.0


def parse_faults(text: str) -> tuple[str, ...]:
    """``all``, ``none`` or a comma-separated subset of :data:`FAULTS`."""
    text = text.strip().lower()
    if text in ("all", ""):
        return FAULTS
    if text == "none":
        return ()
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault {', '.join(unknown)}; known: {', '.join(FAULTS)}, all, none")
    return kinds


@dataclass(frozen=True)
class SoakConfig:
    url: str | None = None  # None: start a local server
    token: str | None = None
    duration_s: float = 3600.0
    seed: int = 0
    concurrency: int = 2  # session slots, each always opening, holding or ending a session
    session_s: tuple[float, float] = (2.0, 6.0)  # how long a session is held (uniform)
    ws_share: float = 0.3  # share of sessions that are WebSocket ones
    viewers_max: int = 2  # WHEP viewers a WebRTC session gets (0..viewers_max)
    rtmp_share: float = 0.3  # share of WebRTC sessions that get an RTMP output (faults permitting)
    fault_share: float = 0.3  # chance a client vanishes / a WS client reads slowly, when enabled
    bad_offer_every_s: float = 5.0  # mean gap between two bad requests
    faults: tuple[str, ...] = FAULTS
    sample_s: float | None = None  # None: duration / 120, between 5 and 30 s
    probe_s: float = 0.25  # /health timing interval
    warmup_sessions: int = 50  # sessions left out of the memory fit (one-time allocations)
    avatar: str = "default"
    max_sessions: int = 8  # what a spawned server admits (the slots stay well under it)
    data_dir: Path | None = None

    @property
    def sample_interval(self) -> float:
        if self.sample_s is not None:
            return self.sample_s
        return float(min(30.0, max(5.0, self.duration_s / 120.0)))


@dataclass
class Tally:
    """What the run did and what the server answered."""

    sessions: Counter[str] = field(default_factory=Counter)  # opened, by kind
    faults: Counter[str] = field(default_factory=Counter)  # injected, by kind
    responses: Counter[str] = field(default_factory=Counter)  # "POST /sessions 201", "WS 1013 ..."
    events: Counter[str] = field(default_factory=Counter)  # viewers, outputs, no_video, errors
    offer_to_first_frame_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def error(self, what: str, exc: BaseException) -> None:
        self.events["errors"] += 1
        if len(self.errors) < 50:
            self.errors.append(f"{what}: {type(exc).__name__}: {exc}"[:300])
        log.warning("%s: %r", what, exc)

    def refusals(self) -> dict[str, int]:
        """Answers that refused: HTTP 4xx / 5xx, WebSocket error codes and closes."""

        def refused(key: str) -> bool:
            last = key.rsplit(" ", 1)[-1]
            return int(last) >= 400 if last.isdigit() else last != "session"

        return {k: v for k, v in sorted(self.responses.items()) if refused(k)}


# ---- loopback RTMP fakes ---------------------------------------------------------------------------


class SilentListener:
    """Accepts TCP connections on 127.0.0.1 and never says a byte (an RTMP ingest that hangs)."""

    def __init__(self) -> None:
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        try:
            while await reader.read(65536):  # swallow the handshake and whatever follows
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def close(self) -> None:
        for w in list(self._writers):
            w.close()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5.0)


def dead_port() -> int:
    """A loopback port nobody listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# ---- the /health prober (a separate process) -------------------------------------------------------


def probe_main(url: str, interval: float) -> None:
    """Time ``GET /health`` every ``interval`` s on a kept-alive connection; one line per request:
    ``<unix time> <ms> <status>`` (status 0: failed or timed out after 5 s)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn: http.client.HTTPConnection | None = None
    while True:
        t0 = time.perf_counter()
        status = 0
        try:
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5.0)
            conn.request("GET", "/health")
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
        ms = (time.perf_counter() - t0) * 1000.0
        print(f"{time.time():.3f} {ms:.2f} {status}", flush=True)
        time.sleep(max(0.0, interval - ms / 1000.0))


class HealthProbe:
    """Runs :func:`probe_main` in a child process and collects its timings."""

    def __init__(self, url: str, interval: float) -> None:
        self.url, self.interval = url, interval
        self.ms: list[float] = []  # every successful probe, in order
        self.at: list[float] = []  # its wall-clock time
        self.failed = 0
        self._cursor = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from xactor.bench.soak import probe_main as m; m(sys.argv[1], float(sys.argv[2]))",
            self.url,
            str(self.interval),
            stdout=asyncio.subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            try:
                at, ms, status = line.decode().split()
            except ValueError:
                continue
            if status == "200":
                self.ms.append(float(ms))
                self.at.append(float(at))
            else:
                self.failed += 1

    def since_last(self) -> list[float]:
        """Probe timings since the previous call."""
        out = self.ms[self._cursor :]
        self._cursor = len(self.ms)
        return out

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._proc.wait(), 5.0)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


def latency_stats(ms: list[float]) -> dict[str, float] | None:
    if not ms:
        return None
    v = np.asarray(ms)
    return {
        "p50": round(float(np.percentile(v, 50)), 2),
        "p99": round(float(np.percentile(v, 99)), 2),
        "max": round(float(v.max()), 2),
        "n": len(ms),
        f"over_{GOAL_STALL_MS:.0f}ms": int((v > GOAL_STALL_MS).sum()),
    }


_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)")


def loop_metrics(text: str) -> dict[str, float]:
    """The series of a Prometheus text page whose name mentions loop lag or stalls."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _METRIC_LINE.match(line)
        if m and ("loop_lag" in m.group(1) or "stall" in m.group(1)):
            with contextlib.suppress(ValueError):
                out[m.group(1)] = float(m.group(2))
    return out


# ---- the clients ------------------------------------------------------------------------------------

_STATUS = re.compile(r"POST /sessions: (\d{3})")


class Soak:
    def __init__(self, cfg: SoakConfig, url: str, http: httpx.AsyncClient) -> None:
        self.cfg, self.url, self.http = cfg, url, http
        self.rng = random.Random(cfg.seed)
        self.headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
        self.tally = Tally()
        self.live_ids: list[str] = []  # WebRTC sessions open now (bad WHEP offers go to them)
        self.silent_port: int | None = None
        self.speech48 = _speech_like(2.0)
        pcm = _speech_like(2.0 * 3)[::3]  # 16 kHz
        self.pcm16 = (np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes()
        self.stop_at = 0.0
        self.started_wall = 0.0
        self.warm_wall: float | None = None  # when the warm-up's sessions were all opened

    def opened_one(self, kind: str) -> None:
        self.tally.sessions[kind] += 1
        if self.warm_wall is None and self.opened >= self.cfg.warmup_sessions:
            self.warm_wall = time.time()

    def faulty(self, kind: str) -> bool:
        return kind in self.cfg.faults and self.rng.random() < self.cfg.fault_share

    # -- WebRTC session with viewers and outputs
    async def webrtc_session(self) -> None:
        cfg, rng = self.cfg, self.rng
        held = rng.uniform(*cfg.session_s)
        vanish = self.faulty("vanish")
        client = LiveClient(http=self.http, token=cfg.token, keep_images=False)
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(client.start(SignalTrack(self.speech48, loop_signal=True), cfg.avatar), 30)
        except RuntimeError as exc:
            m = _STATUS.search(str(exc))
            self.tally.responses[f"POST /sessions {m.group(1) if m else 'error'}"] += 1
            await client.stop(delete=False)
            return
        except Exception:
            await client.stop(delete=False)
            raise
        self.tally.responses["POST /sessions 201"] += 1
        self.opened_one("webrtc")
        sid = client.answer["session_id"]
        self.live_ids.append(sid)
        extras = [
            asyncio.create_task(self.viewer(sid, rng.uniform(0, held * 0.6), rng.uniform(0.5, held)))
            for _ in range(rng.randint(0, cfg.viewers_max))
        ]
        rtmp_kinds = [k for k in ("silent_rtmp", "dead_rtmp") if k in cfg.faults]
        if rtmp_kinds and rng.random() < cfg.rtmp_share:
            extras.append(
                asyncio.create_task(
                    self.output(sid, rng.choice(rtmp_kinds), rng.uniform(0, held * 0.5), held)
                )
            )
        try:
            with contextlib.suppress(TimeoutError):
                await client.wait_frames(1, timeout=min(held, 10.0))
            if client.frames:
                self.tally.offer_to_first_frame_s.append(client.frames[0].t - t0)
            else:
                self.tally.events["no_video"] += 1
            await asyncio.sleep(max(0.0, t0 + held - time.monotonic()))
        finally:
            await asyncio.gather(*extras, return_exceptions=True)
            with contextlib.suppress(ValueError):
                self.live_ids.remove(sid)
            if vanish:
                self.tally.faults["vanish_webrtc"] += 1
            else:
                with contextlib.suppress(httpx.HTTPError):
                    d = await self.http.delete(f"/sessions/{sid}", headers=self.headers)
                    self.tally.responses[f"DELETE /sessions {d.status_code}"] += 1
            await asyncio.wait_for(client.stop(delete=False), 15)

    async def viewer(self, sid: str, after: float, stay: float) -> None:
        from xactor.bench.viewers import whep_watch

        await asyncio.sleep(after)
        tasks: list[asyncio.Task[None]] = []

        def on_track(track: Any) -> None:
            async def drain() -> None:
                with contextlib.suppress(Exception):
                    while True:
                        await track.recv()

            tasks.append(asyncio.create_task(drain()))

        pc = None
        try:
            pc, r = await asyncio.wait_for(whep_watch(self.http, sid, self.headers, on_track), 20)
            self.tally.responses[f"POST /whep {r.status_code}"] += 1
            if r.status_code != 201:
                return
            self.tally.events["viewers"] += 1
            await asyncio.sleep(stay)
            if self.faulty("vanish"):
                self.tally.faults["vanish_whep"] += 1
            else:
                d = await self.http.delete(r.headers["location"], headers=self.headers)
                self.tally.responses[f"DELETE /whep {d.status_code}"] += 1
        except Exception as exc:
            self.tally.error("whep viewer", exc)
        finally:
            if pc is not None:
                await pc.close()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def output(self, sid: str, kind: str, after: float, held: float) -> None:
        await asyncio.sleep(after)
        port = self.silent_port if kind == "silent_rtmp" else dead_port()
        try:
            r = await asyncio.wait_for(
                self.http.post(
                    f"/sessions/{sid}/outputs",
                    json={"rtmp": f"rtmp://127.0.0.1:{port}/live/soak"},
                    headers=self.headers,
                ),
                20,
            )
            self.tally.responses[f"POST /outputs {r.status_code}"] += 1
            if r.status_code != 201:
                return
            self.tally.faults[kind] += 1
            if self.rng.random() < 0.5:  # removed before its session ends, else it ends with it
                await asyncio.sleep(self.rng.uniform(0, max(0.0, held - after) * 0.8))
                d = await asyncio.wait_for(
                    self.http.delete(f"/sessions/{sid}/outputs/{r.json()['id']}", headers=self.headers), 20
                )
                self.tally.responses[f"DELETE /outputs {d.status_code}"] += 1
        except Exception as exc:
            self.tally.error(f"rtmp output ({kind})", exc)

    # -- WebSocket session
    async def ws_session(self) -> None:
        import websockets

        cfg, rng = self.cfg, self.rng
        held = rng.uniform(*cfg.session_s)
        mode = "normal"
        if self.faulty("slow_reader"):
            mode = "slow_reader"
        elif self.faulty("vanish"):
            mode = "vanish"
        ws_url = "ws" + self.url.removeprefix("http") + "/sessions/stream"
        request = {
            "avatar_id": cfg.avatar,
            "sample_rate": 16000,
            "video": "rgb24" if mode == "slow_reader" else "jpeg",
        }
        async with websockets.connect(
            ws_url, additional_headers=self.headers, open_timeout=20, close_timeout=3, max_queue=4
        ) as ws:
            await ws.send(json.dumps(request))
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if hello.get("type") != "session":
                self.tally.responses[f"WS {hello.get('code', hello.get('type'))}"] += 1
                return
            self.tally.responses["WS session"] += 1
            self.opened_one("websocket")
            frames = 0

            async def read() -> None:
                nonlocal frames
                while True:
                    if isinstance(await ws.recv(), bytes):
                        frames += 1
                        if mode == "slow_reader" and frames >= 3:
                            return  # stop reading; the server's sends back up

            reader = asyncio.create_task(read())
            t0 = time.monotonic()
            cut = t0 + rng.uniform(0.3, held) if mode == "vanish" else t0 + held
            chunk = 3200  # 100 ms of PCM16 at 16 kHz
            i = 0
            try:
                while time.monotonic() < cut:
                    start = (i * chunk) % len(self.pcm16)
                    await asyncio.wait_for(ws.send(self.pcm16[start : start + chunk]), 5)
                    i += 1
                    await asyncio.sleep(0.1)
            except TimeoutError:
                self.tally.events["ws_send_blocked"] += 1
            if frames == 0:
                self.tally.events["no_video"] += 1
            if mode == "slow_reader":
                self.tally.faults["slow_reader"] += 1
            if mode == "vanish":
                self.tally.faults["vanish_ws"] += 1
                ws.transport.abort()  # no close frame, no FIN: the peer is just gone
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    # -- bad requests
    async def bad_offers(self) -> None:
        while time.monotonic() < self.stop_at:
            await asyncio.sleep(self.rng.expovariate(1.0 / self.cfg.bad_offer_every_s))
            if time.monotonic() >= self.stop_at:
                return
            kind = self.rng.choice(["malformed", "no_fingerprint", "whep_malformed", "ws_binary"])
            try:
                await asyncio.wait_for(self.bad_offer(kind), 20)
            except Exception as exc:
                self.tally.error(f"bad offer ({kind})", exc)

    async def bad_offer(self, kind: str) -> None:
        if kind == "malformed":
            body = {
                "sdp": "v=0\r\nthis is not an offer\r\nm=audio x\r\n",
                "type": "offer",
                "avatar_id": self.cfg.avatar,
            }
            r = await self.http.post("/sessions", json=body, headers=self.headers)
            self.tally.responses[f"POST /sessions (malformed) {r.status_code}"] += 1
        elif kind == "no_fingerprint":
            from aiortc import RTCConfiguration, RTCPeerConnection

            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            try:
                pc.addTransceiver("audio", direction="sendrecv")
                pc.addTransceiver("video", direction="recvonly")
                await pc.setLocalDescription(await pc.createOffer())
                sdp = "".join(
                    line
                    for line in pc.localDescription.sdp.splitlines(keepends=True)
                    if not line.startswith("a=fingerprint")
                )
            finally:
                await pc.close()
            body = {"sdp": sdp, "type": "offer", "avatar_id": self.cfg.avatar}
            r = await self.http.post("/sessions", json=body, headers=self.headers)
            self.tally.responses[f"POST /sessions (no fingerprint) {r.status_code}"] += 1
        elif kind == "whep_malformed":
            if not self.live_ids:
                return
            sid = self.rng.choice(self.live_ids)
            r = await self.http.post(
                f"/sessions/{sid}/whep",
                content="v=0\r\ngarbage",
                headers={**self.headers, "Content-Type": "application/sdp"},
            )
            self.tally.responses[f"POST /whep (malformed) {r.status_code}"] += 1
        else:
            import websockets

            ws_url = "ws" + self.url.removeprefix("http") + "/sessions/stream"
            async with websockets.connect(
                ws_url, additional_headers=self.headers, open_timeout=20, close_timeout=3
            ) as ws:
                await ws.send(b"\x00\x01not json")
                try:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    self.tally.responses[f"WS (binary first) {reply.get('code', reply.get('type'))}"] += 1
                except websockets.ConnectionClosed as exc:
                    self.tally.responses[
                        f"WS (binary first) closed {exc.rcvd.code if exc.rcvd else 'none'}"
                    ] += 1
        self.tally.faults[f"bad_offer_{kind}"] += 1

    # -- the slots
    async def slot(self, index: int) -> None:
        cfg = self.cfg
        while time.monotonic() < self.stop_at:
            ws = self.rng.random() < cfg.ws_share
            what = "websocket session" if ws else "webrtc session"
            try:
                await asyncio.wait_for(
                    self.ws_session() if ws else self.webrtc_session(), cfg.session_s[1] + 60.0
                )
            except Exception as exc:
                self.tally.error(what, exc)
            await asyncio.sleep(self.rng.uniform(0.0, 0.5))

    @property
    def opened(self) -> int:
        return sum(self.tally.sessions.values())


async def _client_lag(out: list[float], stop: asyncio.Event) -> None:
    """This client's own event-loop lag (ms over a 50 ms sleep), to tell its stalls from the server's."""
    while not stop.is_set():
        t = time.monotonic()
        await asyncio.sleep(0.05)
        out.append((time.monotonic() - t - 0.05) * 1000.0)


async def _measured(
    http: httpx.AsyncClient, headers: dict[str, str], timeout: float = 180.0
) -> dict[str, Any]:
    """/health once the server has measured its capacity (sessions wait for that at start-up)."""
    end = time.monotonic() + timeout
    while True:
        health: dict[str, Any] = (await http.get("/health", headers=headers)).json()
        if health.get("capacity") or time.monotonic() > end:
            return health
        await asyncio.sleep(0.5)


async def run_soak(cfg: SoakConfig, url: str) -> dict[str, Any]:
    t_start = time.monotonic()
    samples: list[dict[str, Any]] = []
    probe = HealthProbe(url, cfg.probe_s)
    listener = SilentListener()
    client_lag: list[float] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        soak = Soak(cfg, url, http)
        soak.silent_port = await listener.start()
        await probe.start()
        first = await _measured(http, soak.headers)
        soak.stop_at = time.monotonic() + cfg.duration_s
        soak.started_wall = time.time()
        workers = [asyncio.create_task(soak.slot(i)) for i in range(cfg.concurrency)]
        if "bad_offer" in cfg.faults:
            workers.append(asyncio.create_task(soak.bad_offers()))
        lag_task = asyncio.create_task(_client_lag(client_lag, stop))

        async def sample(phase: str) -> dict[str, Any]:
            row: dict[str, Any] = {"t_s": round(time.monotonic() - t_start, 1), "phase": phase}
            row["wall"] = round(time.time(), 3)
            row["sessions_opened"] = soak.opened
            try:
                health = (await asyncio.wait_for(http.get("/health", headers=soak.headers), 30)).json()
                row["live_sessions"] = health["sessions"]
                row.update(health["process"])
            except Exception as exc:
                soak.tally.error("sample /health", exc)
            try:
                text = (await asyncio.wait_for(http.get("/metrics", headers=soak.headers), 30)).text
                row["loop_metrics"] = loop_metrics(text)
            except Exception as exc:
                soak.tally.error("sample /metrics", exc)
            row["health_ms"] = latency_stats(probe.since_last())
            row["health_failed"] = probe.failed
            lag = client_lag[:]
            client_lag.clear()
            row["client_lag_ms_max"] = round(max(lag), 1) if lag else None
            row["faults"] = sum(soak.tally.faults.values())
            row["refusals"] = sum(soak.tally.refusals().values())
            samples.append(row)
            log.info("soak %s", {k: v for k, v in row.items() if k != "loop_metrics"})
            return row

        await sample("start")
        while time.monotonic() < soak.stop_at:
            await asyncio.sleep(min(cfg.sample_interval, max(0.0, soak.stop_at - time.monotonic())))
            await sample("run")
        # Slots finish the session they hold (bounded by their own timeouts), then the server settles.
        _, pending = await asyncio.wait(workers, timeout=cfg.session_s[1] + 90.0)
        for t in pending:
            t.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        end = time.monotonic() + 60.0
        while time.monotonic() < end:
            with contextlib.suppress(Exception):
                if (await http.get("/health", headers=soak.headers)).json()["sessions"] == 0:
                    break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        final = await sample("settled")
        stop.set()
        await asyncio.gather(lag_task, return_exceptions=True)
        await probe.stop()
        await listener.close()
    elapsed = time.monotonic() - t_start
    return summarise(cfg, soak, samples, probe, first, final, elapsed, listener.accepted)


def summarise(
    cfg: SoakConfig,
    soak: Soak,
    samples: list[dict[str, Any]],
    probe: HealthProbe,
    first: dict[str, Any],
    final: dict[str, Any],
    elapsed: float,
    silent_accepted: int,
) -> dict[str, Any]:
    tally = soak.tally
    # Memory against sessions opened, after the warm-up's one-time allocations; with too few
    # sessions for that (a short smoke), the second half of the run.
    running = [s for s in samples if s.get("rss_mb") is not None]
    steady = [s for s in running if s["sessions_opened"] >= cfg.warmup_sessions]
    fit_from = f"sessions ≥ {cfg.warmup_sessions}"
    if len({s["sessions_opened"] for s in steady}) < 3:
        steady = running[len(running) // 2 :]
        fit_from = "second half of the samples (too few sessions for the warm-up)"
    xs = [float(s["sessions_opened"]) for s in steady]
    growth = {
        key: _slope(xs, [float(s[key]) for s in steady])
        for key in ("rss_mb", "os_threads", "fds", "asyncio_tasks")
        if steady and all(s.get(key) is not None for s in steady)
    }
    health = latency_stats(probe.ms)
    # The verdict judges the steady state: probes after the warm-up (renderer builds, first
    # allocations), or the second half of the run when it never got that far.
    warm_wall = soak.warm_wall
    health_from = f"after session {cfg.warmup_sessions}"
    if warm_wall is None or warm_wall > soak.started_wall + 0.8 * cfg.duration_s:
        warm_wall = soak.started_wall + cfg.duration_s / 2
        health_from = "second half of the run (too few sessions for the warm-up)"
    steady_health = latency_stats([ms for ms, at in zip(probe.ms, probe.at, strict=True) if at >= warm_wall])
    metric_series: dict[str, list[float]] = {}
    for s in samples:
        for k, v in (s.get("loop_metrics") or {}).items():
            if not k.endswith("_created") and "_bucket" not in k:
                metric_series.setdefault(k, []).append(v)
    # The server's own view, where it exports one (the watchdog's xactor_loop_* series), over the
    # same steady window: its loop-stall counter must not move, and the largest loop lag it saw must
    # stay under the stall bound. Worker stalls (a slow render turn) are reported, not judged here.
    before = [s for s in samples if s["wall"] < warm_wall and s.get("loop_metrics")]
    window = [s for s in samples if s["wall"] >= warm_wall and s.get("loop_metrics")]
    window = before[-1:] + window

    def delta(suffix: str) -> float | None:
        keys = {k for s in window for k in s["loop_metrics"] if k.endswith(suffix)}
        if not keys or len(window) < 2:
            return None
        return sum(
            window[-1]["loop_metrics"].get(k, 0.0) - window[0]["loop_metrics"].get(k, 0.0) for k in keys
        )

    server_stalls = delta("loop_stalls_total")
    worker_stalls = delta("worker_stalls_total")
    lag_max = [v for s in window[1:] for k, v in s["loop_metrics"].items() if "loop_lag_max" in k]
    server_lag_max_ms = round(max(lag_max) * 1000.0, 1) if lag_max else None
    mb = growth.get("rss_mb")
    opened = soak.opened
    verdict = {
        "memory_mb_per_session": None if mb is None else round(mb, 4),
        "memory_ok": None
        if mb is None or opened < 2 * max(cfg.warmup_sessions, 1)
        else mb <= GOAL_MB_PER_SESSION,
        "health_judged": health_from,
        "health_p99_ms": None if steady_health is None else steady_health["p99"],
        "health_p99_ok": None if steady_health is None else steady_health["p99"] <= GOAL_HEALTH_P99_MS,
        "health_max_ms": None if steady_health is None else steady_health["max"],
        "health_failed": probe.failed,
        "server_stalls": server_stalls,
        "server_worker_stalls": worker_stalls,
        "server_loop_lag_max_ms": server_lag_max_ms,
        "no_stall_ok": None
        if steady_health is None
        else steady_health["max"] <= GOAL_STALL_MS
        and probe.failed == 0
        and not server_stalls
        and (server_lag_max_ms is None or server_lag_max_ms <= GOAL_STALL_MS),
    }
    return {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "elapsed_s": round(elapsed, 1),
        "sessions_opened": dict(tally.sessions) | {"total": opened},
        "sessions_per_hour": round(opened / max(cfg.duration_s, 1e-9) * 3600.0, 1),
        "faults_injected": dict(sorted(tally.faults.items())) | {"silent_listener_accepted": silent_accepted},
        "responses": dict(sorted(tally.responses.items())),
        "refusals": tally.refusals(),
        "events": dict(tally.events),
        "errors": tally.errors,
        "offer_to_first_frame_ms": latency_stats([s * 1000.0 for s in tally.offer_to_first_frame_s]),
        "health_ms": health,
        "health_ms_steady": steady_health,
        "loop_metrics": {k: {"first": v[0], "last": v[-1], "max": max(v)} for k, v in metric_series.items()},
        "growth_per_session": {k: None if v is None else round(v, 4) for k, v in growth.items()},
        "growth_fit": {"from": fit_from, "samples": len(steady)},
        "process": {
            "start": first.get("process"),
            "settled": {
                k: final.get(k) for k in ("rss_mb", "os_threads", "python_threads", "fds", "asyncio_tasks")
            },
        },
        "goals": {
            "mb_per_session": GOAL_MB_PER_SESSION,
            "health_p99_ms": GOAL_HEALTH_P99_MS,
            "stall_ms": GOAL_STALL_MS,
        },
        "verdict": verdict,
        "samples": samples,
    }


async def soak(cfg: SoakConfig) -> dict[str, Any]:
    """Run against ``cfg.url``, or against a local server started for the run."""
    if cfg.url is not None:
        return await run_soak(cfg, cfg.url)
    from xactor.bench.latency import local_server

    with tempfile.TemporaryDirectory(prefix="xactor-soak-") as tmp:
        data_dir = cfg.data_dir or Path(tmp)
        env = {"XACTOR_CONNECT_TIMEOUT_S": "3", "XACTOR_MAX_SESSIONS": str(cfg.max_sessions)}
        async with local_server(data_dir, env=env) as url:
            result = await run_soak(cfg, url)
        result["server_log_stalls"] = stall_reports(data_dir / "probe-server.log")
        return result


def stall_reports(log_path: Path, keep: int = 20, frames: int = 14) -> list[str]:
    """The server log's stall reports, first ``keep``: each warning with the innermost ``frames``
    lines of the stack the watchdog logged under it (where the blocked loop was)."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    out = []
    for i, line in enumerate(lines):
        if ("stall" in line or "blocked" in line) and ("WARNING" in line or "ERROR" in line):
            stack = []
            for more in lines[i + 1 :]:
                if not more.startswith(" "):
                    break
                stack.append(more)
            out.append("\n".join([line, *stack[-frames:]]))
            if len(out) >= keep:
                break
    return out


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    v = result["verdict"]
    table = Table(title=f"soak: {result['elapsed_s']:.0f} s, seed {result['config']['seed']}")
    cols = (
        "t s",
        "opened",
        "live",
        "RSS MB",
        "threads",
        "fds",
        "tasks",
        "/health p50",
        "p99",
        "max",
        "faults",
        "refusals",
    )
    for c in cols:
        table.add_column(c, justify="right")
    for s in result["samples"]:
        h = s.get("health_ms") or {}
        table.add_row(
            f"{s['t_s']:.0f}" + (" (settled)" if s["phase"] == "settled" else ""),
            str(s["sessions_opened"]),
            str(s.get("live_sessions")),
            str(s.get("rss_mb")),
            str(s.get("os_threads")),
            str(s.get("fds")),
            str(s.get("asyncio_tasks")),
            str(h.get("p50", "-")),
            str(h.get("p99", "-")),
            str(h.get("max", "-")),
            str(s["faults"]),
            str(s["refusals"]),
        )
    console.print(table)
    console.print(f"sessions opened: {result['sessions_opened']} ({result['sessions_per_hour']} an hour)")
    console.print(f"faults injected: {result['faults_injected']}")
    console.print(f"refusals: {result['refusals']}")
    console.print(f"events: {result['events']}")
    if result["errors"]:
        console.print(f"errors ({len(result['errors'])} kept): {result['errors'][:5]}")
    console.print(f"offer → first frame ms: {result['offer_to_first_frame_ms']}")
    console.print(
        f"/health ms, whole run: {result['health_ms']}; {v['health_judged']}: {result['health_ms_steady']}"
    )
    if result["loop_metrics"]:
        console.print(f"server loop metrics: {result['loop_metrics']}")
    console.print(f"growth per session ({result['growth_fit']['from']}): {result['growth_per_session']}")
    console.print(f"process: {result['process']}")
    if result.get("server_log_stalls"):
        n = len(result["server_log_stalls"])
        console.print(f"server log: {n} stall report(s); the first:\n{result['server_log_stalls'][0]}")

    def mark(ok: bool | None) -> str:
        return (
            "[green]met[/green]" if ok else ("[red]missed[/red]" if ok is False else "[yellow]n/a[/yellow]")
        )

    console.print(
        f"verdict: memory {v['memory_mb_per_session']} MB/session (≤ {GOAL_MB_PER_SESSION}) "
        f"{mark(v['memory_ok'])}; "
        f"/health p99 {v['health_p99_ms']} ms (≤ {GOAL_HEALTH_P99_MS:g}) {mark(v['health_p99_ok'])}; "
        f"max {v['health_max_ms']} ms, {v['health_failed']} failed, server loop stalls {v['server_stalls']}, "
        f"server loop lag max {v['server_loop_lag_max_ms']} ms (no stall over {GOAL_STALL_MS:g} ms) "
        f"{mark(v['no_stall_ok'])}"
    )
