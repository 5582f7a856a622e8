"""Motion sources: streaming audio in, 25 fps motion frames out (see :mod:`.base`)."""

from engines.motion_source.base import MotionFrame, MotionSource
from engines.motion_source.heuristic import HeuristicConfig, HeuristicMotionSource

__all__ = ["HeuristicConfig", "HeuristicMotionSource", "MotionFrame", "MotionSource"]
