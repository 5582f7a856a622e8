"""server/live/transport.py: the immediate audio jitter buffer, its install, the connect-race filter."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from xactor.server.live.transport import (
    JITTER_ATTR,
    ImmediateAudioJitterBuffer,
    configure_audio_receivers,
    make_audio_jitter_buffer,
)


def _rtp(seq: int, ts: int) -> RtpPacket:
    p = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts)
    p.payload = bytes([seq % 256])
    p._data = p.payload  # type: ignore[attr-defined]  # what the receiver's depayloader sets
    return p


def test_immediate_jitter_buffer_releases_at_once_and_drops_late() -> None:
    jb = ImmediateAudioJitterBuffer()
    out = [jb.add(_rtp(s, s * 960))[1] for s in (65534, 65535, 0, 2, 1, 2, 3)]
    released = [f.timestamp if f is not None else None for f in out]
    assert released == [65534 * 960, 65535 * 960, 0, 2 * 960, None, None, 3 * 960]
    assert jb.dropped_late == 2
    # aiortc's own buffer holds the first packet until the next one (prefetch 0) or 4 more.
    stock = make_audio_jitter_buffer(1)
    assert stock.add(_rtp(10, 0))[1] is None and stock.add(_rtp(11, 960))[1] is not None


@pytest.mark.anyio
async def test_receiver_jitter_buffer_is_replaceable_in_this_aiortc() -> None:
    """Guards the one private attribute we touch: an aiortc upgrade that renames it fails here."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN
    try:
        tx = pc.addTransceiver("audio", direction="recvonly")
        assert isinstance(getattr(tx.receiver, JITTER_ATTR), JitterBuffer)
        assert configure_audio_receivers(pc, 0) == 1
        assert isinstance(getattr(tx.receiver, JITTER_ATTR), ImmediateAudioJitterBuffer)
    finally:
        await pc.close()


@pytest.mark.anyio
async def test_connect_race_of_a_closing_peer_connection_is_quiet_and_others_are_not() -> None:
    from aiortc.exceptions import InvalidStateError

    from xactor.server.live.transport import install_connect_race_filter

    loop = asyncio.get_running_loop()
    seen: list[dict[str, object]] = []
    original = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        install_connect_race_filter(loop)

        class FakePeerConnection:  # its task coroutine is named like aiortc's: ...__connect
            async def __connect(self) -> None:
                raise InvalidStateError("RTCIceTransport is closed")

            def start(self) -> asyncio.Task[None]:
                return asyncio.ensure_future(self.__connect())

        race = FakePeerConnection().start()
        other = asyncio.ensure_future(asyncio.sleep(0, result=None))
        await asyncio.gather(race, other, return_exceptions=True)
        handler = loop.get_exception_handler()
        assert handler is not None
        handler(loop, {"message": "x", "exception": race.exception(), "task": race})
        assert seen == []  # the race is logged at debug level, nothing reaches the old handler
        boom = asyncio.ensure_future(_raise(RuntimeError("boom")))
        await asyncio.gather(boom, return_exceptions=True)
        handler(loop, {"message": "y", "exception": boom.exception(), "task": boom})
        assert [c["message"] for c in seen] == ["y"]  # anything else goes through
    finally:
        loop.set_exception_handler(original)


async def _raise(exc: Exception) -> None:
    raise exc
