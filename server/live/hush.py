"""An interruption on the picture: the portrait stops speaking on the next frame the worker takes.

``clear_buffer`` drops the speech still queued, but the stream already holds speech released before
the clear and not yet shown: up to the lookahead plus a tick (60–100 ms). The motion source has
heard it, and its own smoothing would close the jaw over a few more frames (measured 2–4). So the
worker *hushes* the frames after a clear instead of waiting for the source:

* the articulation channels (:data:`xactor.engines.motion_space.ARTICULATION`: jaw and lips, not smiles
  or brows, blinks or head motion) are zeroed — the closed mouth of a listener — on every frame
  whose own audio was released before the clear;
* they stay zeroed while the source, now fed silence, is still closing its own jaw (at most
  :data:`MAX_HOLD_FRAMES` more frames), so the mouth does not twitch open again; new speech (the
  source's jaw rising) ends that at once;
* then they fade back to the source's own values over :data:`RAMP_FRAMES` frames;
* the first hushed frame says up to which stream sample its sinks must mute the audio they have not
  played yet (:attr:`HushedFrame.mute_until`): the speech that frame would have carried is dropped
  too, so picture and sound stop together.

Frames the worker had already taken when the clear came (one being rendered, and on a loaded
machine several waiting for the event loop) are dropped by the session core: each rendered frame
carries the number of clears the worker had seen when it took it (:attr:`Hush.seen`), and a
frame older than the last clear (:attr:`Hush.requested`) showed speech the user has interrupted.
So the first frame out after a clear listens, whatever the load.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

from xactor.engines import motion_space as ms
from xactor.engines import timebase
from xactor.engines.motion_source.base import MotionFrame

RAMP_FRAMES = 3  # frames over which the source's own mouth comes back after the hushed ones
MAX_HOLD_FRAMES = 8  # at most this many more frames waiting for the source to close its jaw
CLOSED_JAW = 0.02  # a source's jawOpen at or below this counts as closed
_JAW = ms.INDEX["jawOpen"]


@dataclass(frozen=True)
class HushedFrame:
    """A frame to render after :meth:`Hush.apply`."""

    frame: MotionFrame
    mute_until: int | None  # on the first hushed frame: mute unplayed stream audio before this sample


class Hush:
    """One stream's interruption state. :meth:`request` runs on the event loop, :meth:`apply` on the
    render worker's thread (the request queue is a deque: appends and pops are atomic)."""

    def __init__(self) -> None:
        self._requests: deque[int] = deque()
        self.requested = 0  # clears asked for (event loop)
        self.seen = 0  # clears the worker has taken into account (worker thread)
        self._first_free: int | None = None  # first frame whose own audio came after the clear
        self._ramp_start: int | None = None  # first frame of the fade back to the source
        self._last_jaw = 1.0  # the source's jawOpen on the previous hushed frame

    def request(self, cut_sample: int) -> None:
        """A clear happened when the stream had released ``cut_sample`` samples."""
        self.requested += 1
        self._requests.append(cut_sample)

    @property
    def active(self) -> bool:
        return self._first_free is not None or bool(self._requests)

    def apply(self, frame: MotionFrame) -> HushedFrame:
        """``frame`` with its articulation scaled by the hush (unchanged when none is on)."""
        mute_until = None
        while self._requests:
            mute_until = max(self._requests.popleft(), mute_until or 0)
            self.seen += 1
        if mute_until is not None:
            first_free = -(-mute_until // timebase.SAMPLES_PER_FRAME)  # ceil: frames fully after it
            self._first_free = max(first_free, self._first_free or 0)
            self._ramp_start, self._last_jaw = None, 1.0
        if self._first_free is None:
            return HushedFrame(frame, mute_until)
        gain = self._gain(frame)
        if gain >= 1.0:
            self._first_free = self._ramp_start = None
            return HushedFrame(frame, mute_until)
        motion = frame.motion.copy()  # [40]
        motion[ms.ARTICULATION_INDEX] *= gain
        return HushedFrame(replace(frame, motion=motion, speech=frame.speech * gain), mute_until)

    def _gain(self, frame: MotionFrame) -> float:
        """0 while the frame heard speech from before the clear or the source is still closing its
        jaw; then the ramp."""
        assert self._first_free is not None
        jaw = float(frame.motion[_JAW])
        if self._ramp_start is None:
            closing = CLOSED_JAW < jaw < self._last_jaw
            waited = frame.index - self._first_free
            self._last_jaw = jaw
            if frame.index < self._first_free or (closing and waited < MAX_HOLD_FRAMES):
                return 0.0
            self._ramp_start = frame.index
        return min((frame.index - self._ramp_start + 1) / (RAMP_FRAMES + 1), 1.0)
