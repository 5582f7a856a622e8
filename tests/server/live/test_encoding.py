"""server/live/encoding.py: packets, keyframes, bitrate, codec preferences and negotiation."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from xactor.server.live.encoding import VideoEncoder, negotiated_video_codec, video_codec_preferences


def _moving(i: int, size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(i)
    img = np.full((size, size, 3), 80, np.uint8)
    img[(i * 3) % size :, :, 0] = 200
    img[:, : (i * 5) % size, 1] = rng.integers(0, 255, dtype=np.uint8)
    return img


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_encoder_packets_decode_with_keyframes_and_pts(codec: str) -> None:
    enc = VideoEncoder(codec, 300_000, keyframe_interval_s=0.4)  # type: ignore[arg-type]  # keyframe every 10 frames
    dec = av.CodecContext.create("h264" if codec == "h264" else "libvpx", "r")
    keys = []
    for i in range(25):
        packet = enc.encode(_moving(i), pts=i * 3600)
        assert packet is not None and packet.pts == i * 3600
        assert packet.time_base == fractions.Fraction(1, 90000)
        keys.append(packet.is_keyframe)
        frames = dec.decode(av.Packet(bytes(packet)))
        assert len(frames) == 1 and (frames[0].width, frames[0].height) == (128, 128)
    assert [i for i, k in enumerate(keys) if k] == [0, 10, 20]


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_requested_keyframes_come_soon_but_not_in_a_storm(codec: str) -> None:
    """PLI/FIR: the next frame is a keyframe once ``min_key_gap`` frames have passed since the last
    one; requests in between wait, and many requests make one keyframe."""
    enc = VideoEncoder(codec, 300_000, keyframe_interval_s=30.0)  # type: ignore[arg-type]
    gap = enc.min_key_gap  # 12 frames at 25 fps
    requests = {3: 1, gap + 5: 1, gap + 6: 3}  # frame -> requests arriving just before it
    keys = []
    for i in range(2 * gap + 10):
        for _ in range(requests.get(i, 0)):
            enc.request_keyframe()
        packet = enc.encode(_moving(i), pts=i * 3600)
        assert packet is not None
        keys.append(packet.is_keyframe)
    # 0: the first frame; the request at 3 waits for the gap; those at gap+5/gap+6 make one, a gap later.
    assert [i for i, k in enumerate(keys) if k] == [0, gap, 2 * gap]
    assert enc.keyframes == 3 and enc.keyframes_requested == 5


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_a_new_receiver_gets_a_keyframe_on_the_next_frame(codec: str) -> None:
    """A WHEP viewer joining a browser session's encode: no wait for the PLI gap, and not counted
    as a lost picture."""
    enc = VideoEncoder(codec, 300_000, keyframe_interval_s=30.0)  # type: ignore[arg-type]
    keys = []
    for i in range(8):
        if i in (2, 3):  # two viewers join, one frame apart: well inside the PLI gap
            enc.keyframe_for_new_receiver()
        packet = enc.encode(_moving(i), pts=i * 3600)
        assert packet is not None
        keys.append(packet.is_keyframe)
    assert [i for i, k in enumerate(keys) if k] == [0, 2, 3]
    assert enc.keyframes_requested == 0


def test_encoder_bitrate_setting_is_honoured() -> None:
    sizes = {}
    for bitrate in (150_000, 1_200_000):
        enc = VideoEncoder("h264", bitrate)
        total = 0
        for i in range(50):
            rng = np.random.default_rng(i)
            packet = enc.encode(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8), pts=i * 3600)
            total += packet.size if packet else 0
        sizes[bitrate] = total * 8 / 2.0  # bits per second over 2 s
    assert sizes[150_000] < 0.5 * sizes[1_200_000]
    assert sizes[150_000] < 3 * 150_000


def test_encoder_rejects_unknown_codec() -> None:
    with pytest.raises(ValueError):
        VideoEncoder("h265", 1_000_000)  # type: ignore[arg-type]


def test_codec_preferences_order() -> None:
    h264 = [c.mimeType.lower() for c in video_codec_preferences("h264")]
    vp8 = [c.mimeType.lower() for c in video_codec_preferences("vp8")]
    assert h264[0] == "video/h264" and "video/vp8" in h264 and h264[-1] == "video/rtx"
    assert vp8[0] == "video/vp8" and "video/h264" in vp8


@pytest.mark.anyio
@pytest.mark.parametrize("preferred", ["h264", "vp8"])
async def test_codec_negotiation_follows_preference(preferred: str) -> None:
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # loopback: no public STUN
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        offerer.addTransceiver("video", direction="recvonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        tx = answerer.addTransceiver("video", direction="sendonly")
        tx.setCodecPreferences(video_codec_preferences(preferred))  # type: ignore[arg-type]
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        assert negotiated_video_codec(answerer.localDescription.sdp) == preferred
    finally:
        await offerer.close()
        await answerer.close()


def test_rgb_to_yuv_matches_ffmpegs_conversion_at_even_and_odd_sizes() -> None:
    """OpenCV's I420 conversion uses FFmpeg's matrix (BT.601, limited range) and plane order: flat
    colours come out within a level; on a picture, luma within a level and chroma close (FFmpeg
    low-passes chroma over a wider window); odd sizes go through swscale itself."""
    from xactor.server.live.encoding import swscale_yuv420_frame, yuv420_frame

    for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 150, 40), (16, 16, 16)):
        flat = np.broadcast_to(np.array(colour, np.uint8), (64, 64, 3))
        a = yuv420_frame(flat).to_ndarray().astype(int)  # [96, 64]: Y, then U, then V
        b = swscale_yuv420_frame(flat).to_ndarray().astype(int)
        assert np.abs(a - b).max() <= 1, colour
    rng = np.random.default_rng(3)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(64, 64, 3)), 0), 1)
    image = np.clip((smooth - smooth.min()) / np.ptp(smooth) * 255, 0, 255).astype(np.uint8)
    ours, ffmpeg = yuv420_frame(image), swscale_yuv420_frame(image)
    assert ours.format.name == ffmpeg.format.name == "yuv420p" and (ours.width, ours.height) == (64, 64)
    a, b = ours.to_ndarray().astype(int), ffmpeg.to_ndarray().astype(int)
    assert np.abs(a[:64] - b[:64]).max() <= 1 and np.abs(a[64:] - b[64:]).mean() < 2
    odd = yuv420_frame(image[:63, :63])
    assert (odd.width, odd.height) == (63, 63)
    with pytest.raises(ValueError, match="uint8"):
        yuv420_frame(image.astype(np.float32))
