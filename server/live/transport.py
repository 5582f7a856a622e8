"""Audio jitter buffer of the server's receivers: the part of the transport latency the server owns.

aiortc's ``RTCRtpReceiver`` builds ``JitterBuffer(capacity=16, prefetch=4)`` for audio and has no
option to change it. A frame leaves that buffer only once ``prefetch`` later frames have arrived —
and even with ``prefetch=0`` it waits for the next packet, because it learns that an audio frame is
complete from the next packet's timestamp. With 20 ms Opus packets that is 80 ms (default) or 20 ms
(``prefetch`` 0 or 1) of added delay; measured on loopback (bench/RESULTS.md): send -> track
81 ms at the default, 21 ms with prefetch 0, about 1 ms with :class:`ImmediateAudioJitterBuffer`.

In WebRTC every Opus RTP packet carries one whole frame, so no reassembly is needed:
:class:`ImmediateAudioJitterBuffer` releases each packet the moment it arrives, in sequence order;
a packet older than one already released (reordered, duplicate) is dropped instead of waited for.
aiortc does no loss concealment either way, so a late packet would only have added delay.

The one fragile step — aiortc keeps the buffer in the name-mangled private attribute
``RTCRtpReceiver.__jitter_buffer`` — is isolated in :func:`set_audio_jitter_buffer`, which checks
the attribute exists and leaves the receiver alone (with a warning) when an aiortc upgrade renamed
it. ``tests/server/live/test_transport.py`` fails loudly if that happens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.exceptions import InvalidStateError
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

log = logging.getLogger(__name__)

JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
AIORTC_AUDIO_PREFETCH = 4  # what aiortc uses (rtcrtpreceiver.py)
_CAPACITY = 16


class ImmediateAudioJitterBuffer(JitterBuffer):
    """Releases every in-order audio packet at once as a frame; drops packets older than the last."""

    def __init__(self) -> None:
        super().__init__(capacity=_CAPACITY, prefetch=0, is_video=False)
        self._last_seq: int | None = None
        self.dropped_late = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        seq = packet.sequence_number
        if self._last_seq is not None:
            ahead = uint16_add(seq, -self._last_seq)  # 1 = next, 2.. = after a gap
            if ahead == 0 or ahead >= 0x8000:  # duplicate or older than what we released
                self.dropped_late += 1
                return False, None
        self._last_seq = seq
        data: bytes = getattr(packet, "_data", packet.payload)  # set by the receiver's depayloader
        return False, JitterFrame(data=data, timestamp=packet.timestamp)


def make_audio_jitter_buffer(prefetch: int) -> JitterBuffer:
    """``prefetch`` 0: :class:`ImmediateAudioJitterBuffer`; N >= 1: aiortc's buffer waiting N packets."""
    if prefetch < 0:
        raise ValueError(f"prefetch must be >= 0, got {prefetch}")
    if prefetch == 0:
        return ImmediateAudioJitterBuffer()
    return JitterBuffer(capacity=_CAPACITY, prefetch=prefetch)


def set_audio_jitter_buffer(receiver: RTCRtpReceiver, prefetch: int) -> bool:
    """Swap an audio receiver's jitter buffer before any packet arrives; False if not possible."""
    if prefetch == AIORTC_AUDIO_PREFETCH:
        return True  # aiortc's own default
    current = getattr(receiver, JITTER_ATTR, None)
    if not isinstance(current, JitterBuffer):
        log.warning("this aiortc keeps no %s; audio jitter buffer left at aiortc's default", JITTER_ATTR)
        return False
    setattr(receiver, JITTER_ATTR, make_audio_jitter_buffer(prefetch))
    return True


def configure_audio_receivers(pc: RTCPeerConnection, prefetch: int) -> int:
    """Apply :func:`set_audio_jitter_buffer` to every audio transceiver of ``pc``; returns how many."""
    done = 0
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "audio" and set_audio_jitter_buffer(transceiver.receiver, prefetch):
            done += 1
    return done


# ---- aiortc's connect task and a peer connection closed while it runs ------------------------------

ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def _is_connect_race(context: dict[str, Any]) -> bool:
    """True for aiortc's ``RTCPeerConnection.__connect`` task failing because the connection was
    closed under it (ICE or DTLS transport "is closed")."""
    exc = context.get("exception")
    task = context.get("task") or context.get("future")
    if not isinstance(exc, InvalidStateError) or not isinstance(task, asyncio.Task):
        return False
    coro = task.get_coro()
    return getattr(coro, "__qualname__", "").endswith("__connect") and "closed" in str(exc)


def install_connect_race_filter(loop: asyncio.AbstractEventLoop) -> ExceptionHandler | None:
    """Quiet aiortc's fire-and-forget ``__connect`` task when a session closes while connecting.

    aiortc starts ICE and DTLS in a task it never awaits; a peer connection closed before that
    task finishes makes it raise ``InvalidStateError("RTCIceTransport is closed")``, which asyncio
    reports as "Task exception was never retrieved" with a traceback. Closing a connecting session
    is normal (DELETE, connect deadline, shutdown): it is logged at debug level instead. Every
    other exception goes to the handler that was there before. Returns that handler (for restoring).
    """
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _is_connect_race(context):
            log.debug("peer connection closed while connecting: %s", context.get("exception"))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    return previous


# ---- half-open peers -------------------------------------------------------------------------------


async def connect_deadline(
    timeout_s: float, connected: Callable[[], bool], expire: Callable[[], object]
) -> bool:
    """Wait ``timeout_s``; if the peer is not ``connected()`` by then, call ``expire()`` and return
    True. Every peer kind (sessions, WHEP viewers) runs this after its answer: an offer whose ICE or
    DTLS never completes would otherwise hold its slot, its sockets and its tracks for ever."""
    await asyncio.sleep(timeout_s)
    if connected():
        return False
    expire()
    return True
