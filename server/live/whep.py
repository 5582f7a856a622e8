"""WHEP viewers of a live session: any number of receive-only peers watching its avatar.

A :class:`Broadcast` hangs on the session's :class:`~server.live.core.SessionCore` as a frame sink.
While at least one viewer watches, every frame is encoded **once** and the packet goes to every
viewer's :class:`PacketTrack`; the frame's audio (the core's tape: the stream audio up to that
frame) goes to every viewer's :class:`StreamAudioTrack` in 20 ms frames, sent as the picture is,
so the two stay together. With no viewer it costs nothing. Which encode:

* a browser session's own (``shared``: its :class:`~server.live.tracks.AvatarVideoTrack`, in the
  codec its client negotiated): viewers get the packets the client gets, so a watched presenter
  costs one encode, not two;
* otherwise (a WebSocket session has no video encode) the broadcast's own
  :class:`~server.live.encoding.VideoEncoder` on its own thread, at the session's codec.

A viewer is fed from the moment its connection is up, and the next frame is then a keyframe
(either encoder; not held by the PLI rate limit).

A viewer is one aiortc peer connection (recvonly for the viewer): it ends on ``DELETE`` of its
resource, when its connection fails or closes, when it is not connected ``connect_timeout_s`` after
the answer (the deadline sessions have: a half-open offer must not hold a viewer slot), or with the
session.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import MediaDescription, SessionDescription

from xactor.server.live.audio_in import SAMPLE_RATE
from xactor.server.live.core import SessionCore
from xactor.server.live.encoding import (
    VIDEO_CLOCK,
    CodecName,
    VideoEncoder,
    honour_keyframe_requests,
    negotiated_video_codec,
)
from xactor.server.live.encoding import video_codec_preferences as codec_preferences
from xactor.server.live.frames import FrameOut
from xactor.server.live.sdp import UNANSWERABLE, OfferError, check_answer, listed_codecs
from xactor.server.live.tracks import AvatarVideoTrack
from xactor.server.live.transport import connect_deadline

log = logging.getLogger(__name__)

AUDIO_FRAME = SAMPLE_RATE // 50  # 20 ms
_CODEC_NAMES: dict[str, str] = {"h264": "H.264", "vp8": "VP8"}


def _video_codecs(m: MediaDescription) -> set[str]:
    return set(listed_codecs(m))


class ViewerError(ValueError):
    """The viewer's offer cannot be answered (malformed, or it cannot receive our codec)."""


class TooManyViewersError(ViewerError):
    """The session has its most viewers."""


class _PushedTrack(MediaStreamTrack):
    """A track whose items the broadcast pushes; a bounded queue where the oldest goes when full (a
    viewer that cannot keep up loses items, not the others' time)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxsize)

    def _put(self, item: Any) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def stop(self) -> None:
        if self.readyState == "live" and not self._queue.full():
            self._queue.put_nowait(None)  # wakes a recv() that waits (a full queue has no waiter)
        super().stop()

    async def recv(self) -> Any:
        item = await self._queue.get()
        if item is None or self.readyState != "live":
            raise MediaStreamError
        return item


class PacketTrack(_PushedTrack):
    """Encoded video packets pushed by the broadcast (aiortc only packetises them).

    It starts on a keyframe: a packet encoded before the viewer was ready (in flight at the time)
    cannot be decoded without its predecessors, so what comes before the first keyframe is not
    sent. A viewer too slow for its queue loses the queue, not just its oldest packet (what
    follows a gap is undecodable until a keyframe): it waits for the next keyframe again and asks
    for one (``on_gap``).
    """

    kind = "video"

    def __init__(self, on_gap: Callable[[], None] | None = None) -> None:
        super().__init__(maxsize=8)
        self._on_gap = on_gap
        self.started = False
        self.skipped_before_keyframe = 0
        self.gaps = 0

    def push(self, packet: av.Packet) -> None:
        if self.readyState != "live":
            return
        if self._queue.full():
            while not self._queue.empty():
                self._queue.get_nowait()
            self.started = False
            self.gaps += 1
            if self._on_gap is not None:
                self._on_gap()
        if not self.started and not packet.is_keyframe:
            self.skipped_before_keyframe += 1
            return
        self.started = True
        self._put(packet)


class StreamAudioTrack(_PushedTrack):
    """The session's 16 kHz stream audio in 20 ms frames, released with the frames that show it."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__(maxsize=50)
        self._carry = np.zeros(0, np.float32)
        self._pts = 0

    def push(self, samples: np.ndarray) -> None:
        if self.readyState != "live":
            return
        data = np.concatenate([self._carry, samples]) if self._carry.size else samples
        n = data.size // AUDIO_FRAME * AUDIO_FRAME
        self._carry = data[n:]
        for chunk in data[:n].reshape(-1, AUDIO_FRAME):  # [k, 320]
            pcm = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)[None]  # [1, 320] s16 mono
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = self._pts
            frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
            self._pts += AUDIO_FRAME
            self._put(frame)


class Viewer:
    """One WHEP viewer: its peer connection and tracks. It is fed only once connected: before
    that nothing reads its tracks, and a backlog would reach it late (audio behind the picture)."""

    def __init__(self, ice_servers: list[Any], on_gap: Callable[[], None] | None = None) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        self.video = PacketTrack(on_gap)
        self.audio = StreamAudioTrack()
        self.created = time.time()
        self.connected = False
        self.deadline: asyncio.Task[bool] | None = None  # the connect deadline, once answered

    async def close(self) -> None:
        if self.deadline is not None and self.deadline is not asyncio.current_task():
            self.deadline.cancel()
        self.video.stop()
        self.audio.stop()
        try:
            await self.pc.close()
        except Exception as exc:
            log.warning(
                "viewer %s: closing the peer connection failed: %s: %s", self.id, type(exc).__name__, exc
            )
        self.pc.remove_all_listeners()


class Broadcast:
    """A session's viewers and the one encode they share (see module docstring)."""

    def __init__(
        self,
        session_id: str,
        core: SessionCore,
        codec: CodecName,
        bitrate: int,
        *,
        shared: AvatarVideoTrack | None = None,
        ice_servers: list[Any] | None = None,
        keyframe_interval_s: float = 2.0,
        h264_preset: str = "veryfast",
        max_viewers: int = 16,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.session_id = session_id
        self.core = core
        self._shared = shared
        self.codec: CodecName = shared.encoder.codec_name if shared is not None else codec
        self._own_encoder: VideoEncoder | None = None
        if shared is None:
            self._own_encoder = VideoEncoder(
                codec, bitrate, keyframe_interval_s=keyframe_interval_s, h264_preset=h264_preset
            )
        self._ice_servers = ice_servers or []
        self._max = max_viewers
        self._connect_timeout_s = connect_timeout_s
        self.viewers_expired = 0  # never connected within the deadline
        self._removals: set[asyncio.Task[bool]] = set()
        self.viewers: dict[str, Viewer] = {}
        self._attached = False
        self._executor: ThreadPoolExecutor | None = None  # the own encoder's thread
        self._busy = False  # one encode in flight; a frame arriving meanwhile is skipped
        self._start: float | None = None
        self._last_pts = -1
        self.frames_encoded = 0
        self.frames_skipped = 0
        self._closed = False

    # ---- viewers ----------------------------------------------------------------------------------
    async def add_viewer(self, offer_sdp: str) -> tuple[Viewer, str]:
        """Answer a viewer's offer (already through :func:`~server.live.sdp.check_offer` as a
        viewer); raises :class:`ViewerError` for an offer we cannot serve. A viewer not connected
        ``connect_timeout_s`` after the answer is removed (its slot freed)."""
        if self._closed:
            raise ViewerError("the session is closing")
        if len(self.viewers) >= self._max:
            raise TooManyViewersError(f"this session already has {self._max} viewers")
        offer = SessionDescription.parse(offer_sdp)
        if not any(self.codec in _video_codecs(m) for m in offer.media if m.kind == "video"):
            raise ViewerError(
                f"the viewer cannot receive {_CODEC_NAMES[self.codec]} video, the codec this session "
                f"sends: offer {_CODEC_NAMES[self.codec]}"
            )
        viewer = Viewer(self._ice_servers, on_gap=self._request_keyframe)
        pc = viewer.pc
        try:
            # Our transceivers first (as the WebRTC session does): the offer's m-lines take them,
            # and the video one answers with only the codec we encode.
            video = pc.addTransceiver(viewer.video, direction="sendonly")
            video.setCodecPreferences(
                [c for c in codec_preferences(self.codec) if c.mimeType.lower() != "video/rtx"][:1]
            )
            honour_keyframe_requests(video.sender, self._request_keyframe)
            pc.addTransceiver(viewer.audio, direction="sendonly")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
            check_answer(offer, pc.localDescription.sdp)
        except OfferError as exc:
            await viewer.close()
            raise ViewerError(str(exc)) from None
        except Exception as exc:  # aiortc failing on an offer that passed the checks: its detail is ours
            await viewer.close()
            log.info(
                "viewer of session %s: aiortc cannot answer: %s: %s", self.session_id, type(exc).__name__, exc
            )
            raise ViewerError(UNANSWERABLE) from None
        if negotiated_video_codec(pc.localDescription.sdp) != self.codec:
            await viewer.close()
            raise ViewerError(f"the viewer cannot receive {self.codec} video, the codec this server sends")

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected" and not viewer.connected:
                viewer.connected = True
                self._encoder.keyframe_for_new_receiver()
            elif pc.connectionState in ("failed", "closed"):
                await self.remove_viewer(viewer.id)

        self.viewers[viewer.id] = viewer
        viewer.deadline = asyncio.create_task(
            connect_deadline(self._connect_timeout_s, lambda: viewer.connected, lambda: self._expire(viewer)),
            name=f"whep-deadline-{viewer.id}",
        )
        self._attach()
        log.info("session %s: viewer %s joined (%d watching)", self.session_id, viewer.id, len(self.viewers))
        return viewer, pc.localDescription.sdp

    def _expire(self, viewer: Viewer) -> None:
        """The viewer's connection is not up by its deadline: remove it (from its deadline task)."""
        if viewer.id not in self.viewers:
            return
        self.viewers_expired += 1
        log.info(
            "session %s: viewer %s not connected %g s after the answer; removed",
            self.session_id,
            viewer.id,
            self._connect_timeout_s,
        )
        # The deadline task awaits nothing more: the removal runs as its own task, kept till done.
        task = asyncio.get_running_loop().create_task(self.remove_viewer(viewer.id))
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)

    async def remove_viewer(self, viewer_id: str) -> bool:
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is None:
            return False
        await viewer.close()
        log.info("session %s: viewer %s left (%d watching)", self.session_id, viewer_id, len(self.viewers))
        return True

    async def close(self) -> None:
        """End every viewer and the encoder (the session is closing)."""
        self._closed = True
        await asyncio.gather(*(self.remove_viewer(v) for v in list(self.viewers)), return_exceptions=True)
        self.core.remove_sink(self._on_frame)
        if self._shared is not None and self._on_packet in self._shared.packet_taps:
            self._shared.packet_taps.remove(self._on_packet)
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, True)
            self._executor = None
        if self._own_encoder is not None:
            self._own_encoder.close()

    @property
    def _encoder(self) -> VideoEncoder:
        """The encoder the viewers' packets come from (the shared one belongs to the session's track
        and is looked up there, not kept)."""
        if self._shared is not None:
            return self._shared.encoder
        assert self._own_encoder is not None
        return self._own_encoder

    def _request_keyframe(self) -> None:
        self._encoder.request_keyframe()

    def _watching(self) -> list[Viewer]:
        return [v for v in self.viewers.values() if v.connected]

    # ---- frames -----------------------------------------------------------------------------------
    def _attach(self) -> None:
        """Start receiving the session's frames and audio (on the first viewer)."""
        if self._attached:
            return
        self._attached = True
        self.core.enable_tape()
        self.core.add_sink(self._on_frame)
        if self._shared is not None:
            self._shared.packet_taps.append(self._on_packet)
        else:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"whep-{self.session_id}")

    def _on_frame(self, out: FrameOut) -> None:
        watching = self._watching()
        if not watching:
            return
        for viewer in watching:
            viewer.audio.push(out.audio)
        if self._executor is None:
            return  # shared: the picture comes encoded from the session's own track (_on_packet)
        if self._busy:
            self.frames_skipped += 1
            return
        now = time.monotonic()
        if self._start is None:
            self._start = now
        pts = max(round((now - self._start) * VIDEO_CLOCK), self._last_pts + 1)
        self._last_pts = pts
        self._busy = True
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._encoder.encode, out.frame.image, pts
        )
        future.add_done_callback(self._encoded)

    def _encoded(self, future: asyncio.Future[av.Packet | None]) -> None:
        self._busy = False
        if future.cancelled() or future.exception() is not None:
            if not future.cancelled():
                log.error("session %s: viewer encode failed", self.session_id, exc_info=future.exception())
            return
        packet = future.result()
        if packet is not None:
            self._on_packet(packet)

    def _on_packet(self, packet: av.Packet) -> None:
        watching = self._watching()
        if not watching:
            return
        self.frames_encoded += 1
        for viewer in watching:
            viewer.video.push(packet)

    def stats(self) -> dict[str, Any]:
        return {
            "viewers": len(self.viewers),
            "connected": len(self._watching()),
            "codec": self.codec,
            "encode": "shared with the session's client" if self._shared is not None else "own",
            "frames_encoded": self.frames_encoded,
            "frames_skipped": self.frames_skipped,
            "expired": self.viewers_expired,  # never connected within the connect deadline
            "queue_gaps": sum(v.video.gaps for v in self.viewers.values()),  # slow viewers' lost queues
            "keyframes": self._encoder.keyframes,
            "keyframes_requested": self._encoder.keyframes_requested,
        }
