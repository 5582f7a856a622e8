"""Interruption: how fast the portrait stops speaking after ``clear_buffer``.

A WebSocket session (against a local ``xactor serve`` it starts, or ``--url``) is sent several
seconds of espeak-ng speech at once; after 1.2–1.7 s of playback the client sends ``clear_buffer``.
Counted on the frames that arrive after the server's ``cleared`` event, in message order (each
frame's motion comes as a ``motion`` event just before it):

* ``open_frames`` — frames until the first whose ``jawOpen`` is at most 0.05 (the mouth closed);
* ``heard_frames`` — frames after the clear that still carry speech (audio peak above 0.01);
* ``twitch`` — the largest ``jawOpen`` after the first closed frame (the mouth opening again);
* ``clear_to_closed_ms`` — client clock, from sending ``clear_buffer`` to receiving that frame.

Both ``on_clear`` modes and both motion sources run in one invocation, side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xactor.bench.latency import local_server
from xactor.bench.speech import tts

CLOSED_JAW = 0.05
TEXT = (
    "Papa bought a big blue boat, and we sailed it all the way around the bay. "
    "Maybe we will do it again next summer."
)


@dataclass(frozen=True)
class InterruptConfig:
    url: str | None = None  # ws:// or http:// base URL; None: start a local server
    token: str | None = None
    trials: int = 3
    sources: tuple[str, ...] = ("heuristic", "generator")
    modes: tuple[str, ...] = ("close_mouth", "natural")
    seed: int = 0


@dataclass
class Trial:
    open_frames: int | None  # None: never closed within the second read
    heard_frames: int
    twitch: float
    clear_to_closed_ms: float | None
    position_s: float | None = None  # the interrupted segment's reported position
    jaws: list[float] = field(default_factory=list)  # the first frames after the clear


async def _trial(
    url: str, headers: dict[str, str], source: str, mode: str, pcm: bytes, wait_s: float
) -> Trial:
    import websockets

    from xactor.server.live.wire import decode_frame

    request = {
        "sample_rate": 16000,
        "video": "none",
        "motion": True,
        "on_clear": mode,
        "options": {"motion_source": source},
    }
    async with websockets.connect(f"{url}/sessions/stream", additional_headers=headers) as ws:
        await ws.send(json.dumps(request))
        hello = json.loads(await ws.recv())
        if hello["type"] != "session":
            raise RuntimeError(f"refused: {hello}")
        await ws.send(pcm)
        await ws.send(json.dumps({"type": "end_of_segment"}))

        async def read_for(seconds: float) -> AsyncIterator[Any]:
            end = time.monotonic() + seconds
            with contextlib.suppress(TimeoutError):
                while (left := end - time.monotonic()) > 0:
                    yield await asyncio.wait_for(ws.recv(), left)

        async for _ in read_for(wait_s):
            pass
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "clear_buffer"}))
        cleared = False
        jaw: dict[int, float] = {}
        after: list[tuple[float, float, float]] = []  # (jaw, audio peak, arrival)
        position = None
        async for message in read_for(1.2):
            if isinstance(message, bytes):
                if cleared:
                    index, audio, _ = decode_frame(message)
                    peak = float(np.abs(audio).max()) if audio.size else 0.0
                    after.append((jaw.get(index, float("nan")), peak, time.monotonic()))
                continue
            event = json.loads(message)
            if event["type"] == "cleared":
                cleared = True
            elif event["type"] == "motion":
                jaw[event["index"]] = event["coefficients"]["jawOpen"]
            elif event["type"] == "segment_end" and event["interrupted"]:
                position = event["position_s"]
    jaws = [a[0] for a in after]
    first = next((i for i, j in enumerate(jaws) if j <= CLOSED_JAW), None)
    return Trial(
        open_frames=first,
        heard_frames=sum(a[1] > 0.01 for a in after),
        twitch=max(jaws[first + 1 :], default=0.0) if first is not None else float("nan"),
        clear_to_closed_ms=(after[first][2] - sent) * 1000.0 if first is not None else None,
        position_s=position,
        jaws=[round(j, 3) for j in jaws[:8]],
    )


def _summary(trials: list[Trial]) -> dict[str, Any]:
    def med(values: list[float | int | None]) -> float | None:
        known = [float(v) for v in values if v is not None]
        return round(float(np.median(known)), 3) if known else None

    return {
        "open_frames": [t.open_frames for t in trials],
        "open_frames_median": med([t.open_frames for t in trials]),
        "heard_frames_median": med([t.heard_frames for t in trials]),
        "twitch_max": round(max(t.twitch for t in trials), 3),
        "clear_to_closed_ms_median": med([t.clear_to_closed_ms for t in trials]),
        "trials": [asdict(t) for t in trials],
    }


async def run(cfg: InterruptConfig) -> dict[str, Any]:
    speech = tts(TEXT)
    pcm = (np.clip(speech / max(np.abs(speech).max(), 1e-6) * 0.5, -1, 1) * 32767).astype("<i2").tobytes()
    headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
    rng = random.Random(cfg.seed)
    results: dict[str, Any] = {"speech_s": round(speech.size / 16000, 2), "rows": []}

    async def measure(url: str) -> None:
        ws_url = url.replace("http", "ws", 1)
        for source in cfg.sources:
            for mode in cfg.modes:
                trials = [
                    await _trial(ws_url, headers, source, mode, pcm, rng.uniform(1.2, 1.7))
                    for _ in range(cfg.trials)
                ]
                results["rows"].append({"source": source, "on_clear": mode, **_summary(trials)})

    if cfg.url is not None:
        await measure(cfg.url)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            async with local_server(Path(tmp)) as url:
                await measure(url)
    return results


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"clear_buffer → mouth closed ({result['speech_s']} s of speech queued)")
    for col in ("source", "on_clear", "frames open", "median", "frames heard", "twitch", "to closed ms"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in result["rows"]:
        table.add_row(
            r["source"],
            r["on_clear"],
            ", ".join(str(v) for v in r["open_frames"]),
            str(r["open_frames_median"]),
            str(r["heard_frames_median"]),
            str(r["twitch_max"]),
            str(r["clear_to_closed_ms_median"]),
        )
    Console(width=120).print(table)
