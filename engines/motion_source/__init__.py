"""Motion sources: streaming audio in, 25 fps motion frames out (see :mod:`.base`)."""

from engines.motion_source.base import MotionFrame, MotionSource

__all__ = ["MotionFrame", "MotionSource"]
