"""Video encoding we control: H.264 (baseline, zerolatency, chosen preset) or VP8 at a chosen bitrate.

aiortc's own encoders (``aiortc.codecs.h264.H264Encoder``, ``vpx.Vp8Encoder``) are created lazily
inside ``RTCRtpSender`` and offer only ``target_bitrate``, clamped to 0.5-3 Mb/s for H.264 and
0.25-1.5 Mb/s for VP8, overwritten by every REMB from the browser; libx264 runs at its default
"medium" preset and a bitrate change of >10 % rebuilds the codec. Reaching into the sender's private
encoder to change that would be fragile. Instead our video track encodes its frames itself and
returns ``av.Packet`` objects: aiortc's documented pre-encoded path (``RTCRtpSender`` then only
packetises them with ``Encoder.pack``). That gives us the preset, an exact bitrate, and the exact
moment each frame reaches the encoder for latency accounting.

Keyframes come every ``keyframe_interval_s`` (default 2 s) and on request: aiortc honours a
receiver's PLI/FIR only in its own encoders, so :func:`honour_keyframe_requests` hooks the sender's
request (``RTCRtpSender._send_keyframe``, which its RTCP handler calls; tested against the pinned
aiortc) and passes it to :meth:`VideoEncoder.request_keyframe`. A viewer that lost packets gets its
picture back after one round trip instead of up to two seconds. What we give up: the browser's REMB
bandwidth estimate, which cannot move our fixed bitrate.

Codec choice: :func:`video_codec_preferences` orders the sender's capabilities for
``RTCRtpTransceiver.setCodecPreferences`` (preferred codec first, the other as fallback, RTX kept),
and :func:`negotiated_video_codec` reads which one the answer settled on.
"""

from __future__ import annotations

import fractions
import logging
from collections.abc import Callable
from typing import Literal

import av
import cv2
import numpy as np
from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import SessionDescription

from xactor.engines.timebase import FPS

log = logging.getLogger(__name__)

VIDEO_CLOCK = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
MIN_KEYFRAME_GAP_S = 0.5  # requested keyframes (PLI/FIR) at most this often
CodecName = Literal["h264", "vp8"]
_MIME = {"h264": "video/h264", "vp8": "video/vp8"}


def video_codec_preferences(preferred: CodecName) -> list[RTCRtpCodecCapability]:
    """Sender video capabilities, ``preferred`` first, then the other codec, then RTX."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    other: CodecName = "vp8" if preferred == "h264" else "h264"
    ordered: list[RTCRtpCodecCapability] = []
    for name in (preferred, other):
        ordered += [c for c in codecs if c.mimeType.lower() == _MIME[name]]
    ordered += [c for c in codecs if c.mimeType.lower() == "video/rtx"]
    return ordered


def negotiated_video_codec(sdp: str) -> CodecName | None:
    """The codec the first video m-line of ``sdp`` sends with (its first payload type), if we know it."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind != "video" or not media.rtp.codecs:
            continue
        mime = media.rtp.codecs[0].mimeType.lower()
        for name, m in _MIME.items():
            if mime == m:
                return name  # type: ignore[return-value]
    return None


def swscale_yuv420_frame(image: np.ndarray) -> av.VideoFrame:
    """image [H, W, 3] uint8 RGB -> YUV 4:2:0 through FFmpeg's swscale (any size)."""
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")


def yuv420_frame(image: np.ndarray) -> av.VideoFrame:
    """image [H, W, 3] uint8 RGB -> a YUV 4:2:0 frame for the codec. OpenCV's SIMD conversion
    (BT.601, limited range: the same matrix as FFmpeg's default) takes 0.2 ms at 256 px where
    swscale takes 0.9 (``xactor bench encode``); odd sizes, which I420 cannot hold, go through
    swscale."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected RGB bytes [H, W, 3] uint8, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if h % 2 or w % 2:
        return swscale_yuv420_frame(image)
    planes = np.asarray(
        cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YUV_I420), np.uint8
    )  # [H * 3 / 2, W]: Y, U, V
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


class VideoEncoder:
    """Encodes RGB frames to one ``av.Packet`` each (no frame delay: zerolatency / lag-in-frames 0).

    Not thread-safe: one per video track, driven from one executor thread at a time.
    """

    def __init__(
        self,
        codec: CodecName,
        bitrate: int,
        fps: int = FPS,
        keyframe_interval_s: float = 2.0,
        h264_preset: str = "veryfast",
        to_yuv: Callable[[np.ndarray], av.VideoFrame] = yuv420_frame,
    ) -> None:
        """``to_yuv`` turns an RGB frame into the codec's YUV 4:2:0 (a benchmark swaps in
        :func:`swscale_yuv420_frame` to compare)."""
        if codec not in _MIME:
            raise ValueError(f"unknown video codec {codec!r}; use 'h264' or 'vp8'")
        if bitrate <= 0:
            raise ValueError(f"bitrate must be positive, got {bitrate}")
        self.codec_name: CodecName = codec
        self.bitrate = int(bitrate)
        self.fps = fps
        self.keyint = max(1, round(keyframe_interval_s * fps))
        self.h264_preset = h264_preset
        self._to_yuv = to_yuv
        self._ctx: av.VideoCodecContext | None = None
        self._since_key = 0
        # Requested keyframes are at least this many frames apart: many viewers asking after one
        # loss (or a receiver asking on every broken frame) make one keyframe, not a storm.
        self.min_key_gap = max(1, round(MIN_KEYFRAME_GAP_S * fps))
        self._key_requested = False
        self._key_forced = False
        self.keyframes_requested = 0  # PLI/FIR received
        self.keyframes = 0  # keyframes sent, for any reason
        self.frames = 0
        self.bytes = 0

    def request_keyframe(self) -> None:
        """A receiver lost the picture (RTCP PLI/FIR): make a keyframe soon (within the gap).
        Called from the event loop while ``encode`` may run on its thread: a flag, read once."""
        self.keyframes_requested += 1
        self._key_requested = True

    def keyframe_for_new_receiver(self) -> None:
        """A receiver joins a running stream: a keyframe on the next frame, not held by the gap
        (joins are few: a viewer's HTTP request each, bounded by the viewer limit)."""
        self._key_forced = True

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        if self.codec_name == "h264":
            ctx = av.CodecContext.create("libx264", "w")
            ctx.options = {
                "preset": self.h264_preset,
                "tune": "zerolatency",
                "profile": "baseline",
                "level": "31",
                # Constrained bitrate: VBV max = target over a 1 s buffer; IDR every keyint frames.
                "x264-params": (
                    f"keyint={self.keyint}:min-keyint={self.keyint}:scenecut=0:"
                    f"vbv-maxrate={self.bitrate // 1000}:vbv-bufsize={self.bitrate // 1000}"
                ),
            }
        else:
            ctx = av.CodecContext.create("libvpx", "w")
            ctx.gop_size = self.keyint
            ctx.qmin = 2
            ctx.qmax = 56
            # aiortc's realtime VP8 settings, at our bitrate (minrate = maxrate = bitrate: CBR).
            ctx.options = {
                "bufsize": str(self.bitrate),
                "cpu-used": "-6",
                "deadline": "realtime",
                "lag-in-frames": "0",
                "minrate": str(self.bitrate),
                "maxrate": str(self.bitrate),
                "noise-sensitivity": "4",
                "overshoot-pct": "15",
                "partitions": "0",
                "static-thresh": "1",
                "undershoot-pct": "100",
            }
        ctx.width = width
        ctx.height = height
        ctx.bit_rate = self.bitrate
        ctx.pix_fmt = "yuv420p"
        ctx.framerate = fractions.Fraction(self.fps, 1)
        ctx.time_base = VIDEO_TIME_BASE
        ctx.thread_count = 1 if width * height <= 512 * 512 else 2
        ctx.open()
        log.info(
            "video encoder %s %dx%d %d b/s keyint %d%s",
            self.codec_name,
            width,
            height,
            self.bitrate,
            self.keyint,
            f" preset {self.h264_preset}" if self.codec_name == "h264" else "",
        )
        return ctx

    def encode(self, image: np.ndarray, pts: int, keyframe: bool = False) -> av.Packet | None:
        """image [H, W, 3] uint8 RGB, pts in 1/90000 s -> one packet (None if the codec held it back)."""
        h, w = image.shape[:2]
        if self._ctx is None or self._ctx.width != w or self._ctx.height != h:
            self._ctx = self._open(w, h)
            keyframe = True
        frame = self._to_yuv(image)
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        if self._key_forced or (self._key_requested and self._since_key >= self.min_key_gap):
            self._key_forced = self._key_requested = False
            keyframe = True
        if keyframe or self._since_key >= self.keyint:
            frame.pict_type = av.video.frame.PictureType.I
            self._since_key = 0
            self.keyframes += 1
        self._since_key += 1
        packets = self._ctx.encode(frame)
        if not packets:
            return None
        if len(packets) > 1:  # not expected with zerolatency; H.264 Annex B concatenates safely
            data = b"".join(bytes(p) for p in packets)
            packet = av.Packet(data)
        else:
            packet = packets[0]
        packet.pts = pts
        packet.dts = pts
        packet.time_base = VIDEO_TIME_BASE
        self.frames += 1
        self.bytes += packet.size
        return packet

    def close(self) -> None:
        self._ctx = None


def honour_keyframe_requests(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    """Call ``request`` whenever the receiver of ``sender`` asks for a keyframe (PLI or FIR).

    aiortc's RTCP handler calls the sender's ``_send_keyframe``, which only its own encoders read;
    our packets are encoded before they reach it, so that hook is wrapped on this sender.
    """
    original: Callable[[], None] = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        try:
            request()
        except Exception:  # the RTCP loop must go on whatever the encoder says
            log.exception("keyframe request failed")

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]
