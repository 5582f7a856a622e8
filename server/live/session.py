"""One live session: a peer connection and everything that runs for it, torn down by one ``close()``.

Data flow (docs/ARCHITECTURE.md §4): remote audio track -> :class:`~server.live.mic.MicReader`
(resampled to 16 kHz PCM) -> the transport-independent :class:`~server.live.core.SessionCore`
(its feed, silence while the mic stalls -> the process's shared render worker: motion source +
the avatar's shared renderer, newest frame wins) -> :class:`AvatarVideoTrack` (encodes on its
own executor thread, sends on arrival, repeats when late) -> RTP. With ``return_audio`` the same
16 kHz stream also feeds a :class:`DelayedAudioTrack` released in step with the video.

Nothing runs before the peer connection is up: the audio clock, the rendering and the idle
watchdog start on ``connected``; a connection not up within ``connect_timeout_s`` of the answer
closes the session (an ICE that never completes holds no slot for long and renders nothing).

``close()`` is idempotent, safe to call from anywhere on the loop and awaited by DELETE, by a
failed/closed connection, by the watchdogs and on app shutdown; it leaves no task, thread or
track behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription

from xactor.engines.motion_source.base import MotionSource
from xactor.engines.offline.motion_file import motion_record
from xactor.engines.render.base import Renderer
from xactor.server.live.audio_in import SAMPLE_RATE, Resampler
from xactor.server.live.core import SessionCore
from xactor.server.live.encoding import (
    CodecName,
    VideoEncoder,
    honour_keyframe_requests,
    negotiated_video_codec,
    video_codec_preferences,
)
from xactor.server.live.frames import FrameOut
from xactor.server.live.lifecycle import LiveSession
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.mic import MicReader
from xactor.server.live.options import ResolvedOptions
from xactor.server.live.sdp import UNANSWERABLE, OfferError, check_answer
from xactor.server.live.tracks import AvatarVideoTrack, DelayedAudioTrack
from xactor.server.live.transport import configure_audio_receivers, connect_deadline
from xactor.server.live.worker import RenderWorker

log = logging.getLogger(__name__)

MOTION_CHANNEL = "motion"  # the data channel label a client opens to receive motion frames


class Session(LiveSession):
    """Owns its peer connection, tasks, worker thread, encoder thread, tracks and stats."""

    transport = "webrtc"

    def __init__(
        self,
        avatar_id: str,
        options: ResolvedOptions,
        source: MotionSource,
        renderer: Renderer,
        resampler: Resampler,
        metrics: LiveMetrics,
        worker: RenderWorker,
        *,
        ice_servers: list[RTCIceServer] | None = None,
        audio_prefetch: int = 0,
        stall_s: float = 0.1,
        idle_timeout_s: float = 15.0,
        connect_timeout_s: float = 5.0,
        h264_preset: str = "veryfast",
        keyframe_interval_s: float = 2.0,
        on_closed: Callable[[Session], Awaitable[None] | None] | None = None,
        id_prefix: str = "",
    ) -> None:
        super().__init__(avatar_id, options, metrics, on_closed, id_prefix)
        self._audio_prefetch = audio_prefetch
        self._idle_timeout_s = idle_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self.connected_at: float | None = None
        self.codec: CodecName | None = None
        self.jitter_buffer_set = False

        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(ice_servers or [])))
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"encode-{self.id}")
        encoder = VideoEncoder(
            options.codec,
            options.bitrate,
            keyframe_interval_s=keyframe_interval_s,
            h264_preset=h264_preset,
        )
        self.audio_out = DelayedAudioTrack() if options.return_audio else None
        self.core = SessionCore(
            self.id,
            source,
            renderer,
            metrics,
            worker,
            stall_s=stall_s,
            audio_sinks=[self.audio_out.feed] if self.audio_out is not None else [],
        )
        self.video = AvatarVideoTrack(
            encoder,
            self.executor,
            metrics=metrics,
            rolling=self.core.rolling,
            on_sent=self.audio_out.video_sent if self.audio_out is not None else None,
        )
        self.core.add_sink(self._deliver)
        # The mic track, resampled to the 16 kHz PCM the core takes.
        self.mic = MicReader(self.core.feed, resampler, metrics, self.core.rolling)
        self.motion_source = source.describe()  # what runs, which may be a fallback

    # ---- plumbing ---------------------------------------------------------------------------------
    def _deliver(self, out: FrameOut) -> None:
        if out.muted is not None and self.audio_out is not None:
            self.audio_out.mute(*out.muted)
        self.video.offer(out.frame)

    def shared_video(self) -> AvatarVideoTrack | None:
        """The client's encode, once its codec is negotiated (WHEP viewers then get the same packets)."""
        return self.video if self.codec is not None else None

    def say(self, speech: np.ndarray) -> int | None:
        """Presenter mode: 16 kHz speech mixed over the mic as it passes (plays at real time, in
        the return audio too). No segment number: a mic session has no marked segments."""
        self.core.feed.overlay(speech)
        return None

    def clear(self) -> float:
        """Interrupt ``say``: the speech not yet mixed in goes, the mouth closes on the next frame
        and the return audio of what was released but not shown is muted; the mic goes on."""
        return self.core.clear_buffer()

    # ---- life cycle -------------------------------------------------------------------------------
    async def start(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """Apply the client's offer, start the pipeline and return our answer."""
        pc = self.pc
        video_tx = pc.addTransceiver(self.video, direction="sendonly")
        video_tx.setCodecPreferences(video_codec_preferences(self.options.codec))
        honour_keyframe_requests(video_tx.sender, lambda: self.video.encoder.request_keyframe())
        if self.audio_out is not None:
            pc.addTransceiver(self.audio_out, direction="sendrecv")
        else:
            pc.addTransceiver("audio", direction="recvonly")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._spawn(self.mic.run(track), "mic")
            else:  # never expected (our video is sendonly); read it anyway so nothing piles up
                self._spawn(_drain(track), "drain")

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label == MOTION_CHANNEL:  # motion out for 3D rigs: one message per frame
                self.core.add_sink(lambda out: _send_motion(channel, out))
            else:
                log.info("session %s: ignoring data channel %r", self.id, channel.label)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("session %s connection %s", self.id, pc.connectionState)
            if pc.connectionState == "connected":
                self._on_connected()
            elif pc.connectionState in ("failed", "closed"):
                await self.close(f"connection {pc.connectionState}")

        try:
            await pc.setRemoteDescription(offer)
            self.jitter_buffer_set = configure_audio_receivers(pc, self._audio_prefetch) > 0
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except Exception as exc:  # aiortc raises ValueError/KeyError/... for SDP it cannot answer
            log.info("session %s: aiortc cannot answer the offer: %s: %s", self.id, type(exc).__name__, exc)
            raise OfferError(UNANSWERABLE) from None
        local = pc.localDescription
        check_answer(SessionDescription.parse(offer.sdp), local.sdp)
        self.codec = negotiated_video_codec(local.sdp)
        if self.codec is None:
            raise OfferError("the offer accepts neither H.264 nor VP8 video")
        if self.codec != self.video.encoder.codec_name:
            log.info("session %s: client has no %s, using %s", self.id, self.options.codec, self.codec)
            self.video.encoder = VideoEncoder(
                self.codec,
                self.video.encoder.bitrate,
                keyframe_interval_s=self.video.encoder.keyint / self.video.encoder.fps,
                h264_preset=self.video.encoder.h264_preset,
            )
        self.core.attach()
        self._spawn(self._connect_deadline(), "connect-deadline")
        self.video.answered_at = time.monotonic()
        self.metrics.sessions_started.inc()
        return local

    def _on_connected(self) -> None:
        """The peer connection is up: start the audio clock, the rendering and the idle watchdog."""
        if self.connected_at is not None or self.closing:
            return
        self.connected_at = time.monotonic()
        self.core.stream.active = True
        self._spawn(self.core.feed.run_clock(self.core.prime_samples(self.options.lookahead)), "clock")
        self._spawn(self._watchdog(), "watchdog")

    async def _connect_deadline(self) -> None:
        """Close the session if its peer connection is not up ``connect_timeout_s`` after the answer."""

        def expire() -> None:
            self.metrics.sessions_rejected.labels("connect_timeout").inc()
            self._spawn_close(f"peer connection not up {self._connect_timeout_s:g} s after the answer")

        await connect_deadline(self._connect_timeout_s, lambda: self.connected_at is not None, expire)

    async def _watchdog(self) -> None:
        """Close a session whose client has sent no audio for ``idle_timeout_s`` (vanished)."""
        while True:
            await asyncio.sleep(min(1.0, self._idle_timeout_s / 4))
            last = self.core.feed.last_mic_audio
            if time.monotonic() - last > self._idle_timeout_s:
                self._spawn_close(f"no audio from the client for {self._idle_timeout_s:g} s")
                return

    async def _teardown(self, reason: str) -> None:
        await self.core.close()
        self.mic.close()
        self.video.stop()
        if self.audio_out is not None:
            self.audio_out.stop()
        try:
            await self.pc.close()
        except Exception:
            log.exception("session %s: closing the peer connection failed", self.id)
        self.pc.remove_all_listeners()  # our handlers close over the session: break the cycle
        await asyncio.to_thread(self.executor.shutdown, True)
        self.video.encoder.close()

    # ---- stats --------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Live stats for GET /sessions (times in ms)."""
        now = time.monotonic()
        r = self.core.rolling
        stages = {s: r.summary(s) for s in ("resample", "vad", "features", "motion", "render", "encode")}
        v = self.video
        return {
            "id": self.id,
            "replica": self.replica,
            "transport": self.transport,
            "avatar_id": self.avatar_id,
            "options": self.options.model_dump(),
            "motion_source": self.motion_source,
            "codec": self.codec,
            "connection": self.pc.connectionState,
            "connect_ms": None
            if self.connected_at is None or self.video.answered_at is None
            else round((self.connected_at - self.video.answered_at) * 1000, 1),
            "created": self.created,
            "age_s": self.age_s,
            "closing": self.closing,
            "fps": v.fps_new.rate(now),
            "fps_sent": v.fps_all.rate(now),
            "frames_sent": v.frames_sent,
            "frames_repeated": v.frames_repeated,
            "frames_dropped": {
                "worker_behind": self.core.stream.frames_skipped,
                "superseded": v.frames_superseded,
                "at_clear": self.core.frames_dropped_at_clear,
            },
            "first_frame_ms": None if v.first_frame_s is None else round(v.first_frame_s * 1000, 1),
            # time.monotonic() at video pts 0: on the same host a client times its frames' trip
            "video_clock_origin_s": v.clock_origin,
            "latency_ms": {
                "audio_to_encoder": r.summary("audio_to_encoder"),
                "own_audio_to_encoder": r.summary("own_audio_to_encoder"),
                "audio_to_send": r.summary("audio_to_send"),
                "render_to_encoder": r.summary("queue"),
            },
            "stages_ms": {k: s for k, s in stages.items() if s is not None},
            "audio": {
                "mic_s": round(self.core.feed.mic_samples / SAMPLE_RATE, 2),
                "silence_fill_s": round(self.core.feed.silence_samples / SAMPLE_RATE, 2),
                "first_mic_sample": self.core.feed.first_mic_sample,
                "dropped_samples": self.core.inbox.dropped_samples,
                "speech": round(self.core.last_speech, 3),
                "jitter_prefetch": self._audio_prefetch if self.jitter_buffer_set else 4,
                "say_queued_s": round(self.core.feed.overlay_queued / SAMPLE_RATE, 2),  # presenter mode
                # return audio silenced by interruptions: released, never shown
                "muted_s": round(self.audio_out.muted_samples / SAMPLE_RATE, 3) if self.audio_out else 0.0,
            },
            "encoder": {
                "frames": v.encoder.frames,
                "kbps": self._kbps(),
                "keyframes": v.encoder.keyframes,
                "keyframes_requested": v.encoder.keyframes_requested,
            },
            "errors": {"render": self.core.stream.errors, "last": self.core.stream.last_error},
            "viewers": self.core.viewer_stats(),
            "outputs": [o.describe() for o in self.outputs],
        }

    def _kbps(self) -> float:
        age = max(time.monotonic() - (self.video.answered_at or self._t0), 1e-3)
        return round(self.video.encoder.bytes * 8 / 1000 / age, 1)


def _send_motion(channel: RTCDataChannel, out: FrameOut) -> None:
    """A frame's motion (ARKit-named coefficients, head pose, the frame's index and time) on the
    client's ``motion`` channel, sent as the frame goes to the encoder."""
    if channel.readyState == "open":
        channel.send(json.dumps(motion_record(out.frame.index, out.frame.motion)))


async def _drain(track: MediaStreamTrack) -> None:
    from aiortc.mediastreams import MediaStreamError

    try:
        while True:
            await track.recv()
    except MediaStreamError:
        pass
