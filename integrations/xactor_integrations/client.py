"""An asyncio client of ``WS /sessions/stream``: push speech, get avatar frames with their audio."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import websockets

from xactor_integrations.protocol import AvatarFrame, parse_frame


def mono_pcm16(pcm: bytes, channels: int) -> bytes:
    """Interleaved PCM16 of ``channels`` channels → mono PCM16 (their mean): the avatar hears one."""
    if channels <= 1:
        return pcm
    return np.frombuffer(pcm, np.int16).reshape(-1, channels).mean(axis=1).astype(np.int16).tobytes()


class SpeechGate:
    """Which frames' audio an agent framework should play. From an utterance's first sound to its
    end (``segment_end``) every frame's audio goes out, pauses included (dropping them would
    shorten the speech against the picture); while the avatar listens none goes, so the framework
    sees the bot stop speaking. A ``cleared`` event ends the utterance too: the server sends no
    frame of the dropped speech after it (the session's default ``on_clear``)."""

    def __init__(self) -> None:
        self.speaking = False

    def audio(self, frame: AvatarFrame) -> bytes:
        """The frame's audio to play, or ``b""``."""
        self.speaking = self.speaking or bool(np.frombuffer(frame.audio, np.int16).any())
        return frame.audio if self.speaking else b""

    def event(self, event: dict[str, Any]) -> None:
        """Follow the session's ``segment_end`` and ``cleared`` events."""
        if event.get("type") in ("segment_end", "cleared"):
            self.speaking = False


class XactorError(RuntimeError):
    """The server refused the session (its ``code`` and message) or the socket failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class XactorStream:
    """One avatar session. ``await connect()``, then ``send_audio`` / ``end_segment`` /
    ``clear_buffer`` while iterating ``messages()`` (frames and event dicts) in another task."""

    def __init__(
        self,
        url: str = "ws://127.0.0.1:8000",
        *,
        token: str | None = None,
        avatar_id: str = "default",
        sample_rate: int = 16000,
        video: str = "rgb24",
        motion: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.request = {
            "avatar_id": avatar_id,
            "sample_rate": sample_rate,
            "video": video,
            "motion": motion,
            "options": options or {},
        }
        self.session: dict[str, Any] = {}
        self._ws: Any = None

    async def connect(self) -> dict[str, Any]:
        """Open the session; returns the server's ``session`` message (id, width, height, fps)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._ws = await websockets.connect(
            f"{self.url}/sessions/stream", additional_headers=headers, max_size=2**24
        )
        await self._ws.send(json.dumps(self.request))
        first = json.loads(await self._ws.recv())
        if first.get("type") != "session":
            await self._ws.close()
            raise XactorError(first.get("code", "refused"), first.get("message", str(first)))
        self.session = first
        return first

    async def send_audio(self, pcm16: bytes) -> None:
        """Speech as PCM16 mono at the declared ``sample_rate`` (any length, as fast as it comes)."""
        await self._ws.send(pcm16)

    async def end_segment(self) -> None:
        """What was sent so far is one utterance: a ``segment_end`` event follows when shown."""
        await self._ws.send(json.dumps({"type": "end_of_segment"}))

    async def clear_buffer(self) -> None:
        """Interrupt: queued speech is dropped at once; the next frame the server renders listens,
        its mouth closed (the unplayed speech it would have carried is muted)."""
        await self._ws.send(json.dumps({"type": "clear_buffer"}))

    async def messages(self) -> AsyncIterator[AvatarFrame | dict[str, Any]]:
        """Frames (with their audio) and events, until the session ends."""
        try:
            async for message in self._ws:
                yield parse_frame(message) if isinstance(message, bytes) else json.loads(message)
        except websockets.ConnectionClosedError as exc:
            raise XactorError("connection_closed", str(exc)) from exc

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
