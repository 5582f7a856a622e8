"""Video encoding we control: H.264 (baseline, zerolatency, chosen preset) or VP8 at a chosen bitrate.

aiortc's own encoders (``aiortc.codecs.h264.H264Encoder``, ``vpx.Vp8Encoder``) are created lazily
inside ``RTCRtpSender`` and offer only ``target_bitrate``, clamped to 0.5-3 Mb/s for H.264 and
0.25-1.5 Mb/s for VP8, overwritten by every REMB from the browser; libx264 runs at its default
"medium" preset and a bitrate change of >10 % rebuilds the codec. Reaching into the sender's private
encoder to change that would be fragile. Instead our video track encodes its frames itself and
returns ``av.Packet`` objects: aiortc's documented pre-encoded path (``RTCRtpSender`` then only
packetises them with ``Encoder.pack``). That gives us the preset, an exact bitrate, and the exact
moment each frame reaches the encoder for latency accounting.

What we give up: keyframes on request (PLI/FIR) — aiortc only honours those in its own encoders —
so we send a keyframe every ``keyframe_interval_s`` (default 2 s) instead; and the browser's REMB
bandwidth estimate, which cannot move our fixed bitrate.

Codec choice: :func:`video_codec_preferences` orders the sender's capabilities for
``RTCRtpTransceiver.setCodecPreferences`` (preferred codec first, the other as fallback, RTX kept),
and :func:`negotiated_video_codec` reads which one the answer settled on.
"""

from __future__ import annotations

import fractions
import logging
from typing import Literal

import av
import numpy as np
from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import SessionDescription

log = logging.getLogger(__name__)

VIDEO_CLOCK = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
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


class VideoEncoder:
    """Encodes RGB frames to one ``av.Packet`` each (no frame delay: zerolatency / lag-in-frames 0).

    Not thread-safe: one per video track, driven from one executor thread at a time.
    """

    def __init__(
        self,
        codec: CodecName,
        bitrate: int,
        fps: int = 25,
        keyframe_interval_s: float = 2.0,
        h264_preset: str = "veryfast",
    ) -> None:
        if codec not in _MIME:
            raise ValueError(f"unknown video codec {codec!r}; use 'h264' or 'vp8'")
        if bitrate <= 0:
            raise ValueError(f"bitrate must be positive, got {bitrate}")
        self.codec_name: CodecName = codec
        self.bitrate = int(bitrate)
        self.fps = fps
        self.keyint = max(1, round(keyframe_interval_s * fps))
        self.h264_preset = h264_preset
        self._ctx: av.VideoCodecContext | None = None
        self._since_key = 0
        self.frames = 0
        self.bytes = 0

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
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        if keyframe or self._since_key >= self.keyint:
            frame.pict_type = av.video.frame.PictureType.I
            self._since_key = 0
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
