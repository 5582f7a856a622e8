"""Motion sources: streaming audio in, 25 fps motion frames out (see :mod:`.base`), by name."""

from xactor.engines.motion_source.base import (
    EMOTIONS,
    MOTION_SOURCES,
    MotionFrame,
    MotionSource,
    MotionSourceOptions,
    MotionSourceSpec,
    create_motion_source,
    register_motion_source,
)

__all__ = [
    "EMOTIONS",
    "MOTION_SOURCES",
    "MotionFrame",
    "MotionSource",
    "MotionSourceOptions",
    "MotionSourceSpec",
    "create_motion_source",
    "register_motion_source",
]
