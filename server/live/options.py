"""Per-session options: what a client may choose in ``POST /sessions``; defaults come from Settings."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xactor.engines.motion_source.base import EMOTIONS, MOTION_SOURCES, check_emotion
from xactor.engines.registry import BACKENDS, check_backend
from xactor.engines.render.base import RENDERERS
from xactor.server.settings import Settings

T = TypeVar("T")

Resolution = Literal[256, 512]
"""Frame sides a session may ask for: the crop sizes every avatar is prepared at
(``xactor.engines.avatar.bundle.SIZES``; tests/server/test_openapi_contract.py keeps the two equal)."""


class OptionError(ValueError):
    """Options that validate on their own but not together with the avatar or the stages (422)."""


def pick(value: T | None, default: T) -> T:
    """``value`` unless it is None (the client did not choose)."""
    return default if value is None else value


class SessionOptions(BaseModel):
    """Client-chosen options; ``None`` means "the server's default" (see :meth:`resolve`)."""

    model_config = ConfigDict(extra="forbid")

    lookahead: int | None = Field(None, ge=0, le=8, description="Future audio frames (40 ms) per frame.")
    resolution: Resolution | None = Field(
        None, description="Square frame side in pixels: a size the avatars are prepared at."
    )
    return_audio: bool | None = Field(None, description="Send the input audio back, aligned to the video.")
    bitrate: int | None = Field(None, ge=50_000, le=20_000_000, description="Video bitrate, bits/s.")
    codec: Literal["h264", "vp8"] | None = Field(None, description="Preferred video codec.")
    motion_source: str | None = Field(None, description="Motion source by registered name.")
    renderer: str | None = Field(None, description="Renderer by registered name.")
    backend: str | None = Field(None, description="Runtime backend: auto, torch, onnxruntime, tensorrt.")
    emotion: str | None = Field(
        None,
        description=f"Emotion the generator acts: {', '.join(EMOTIONS)}; unset: inferred from the voice.",
    )
    emotion_intensity: float | None = Field(None, ge=0.0, le=1.0, description="0 (none) .. 1 (full).")

    @field_validator("emotion")
    @classmethod
    def _known_emotion(cls, value: str | None) -> str | None:
        check_emotion(value)
        return value

    @field_validator("motion_source")
    @classmethod
    def _known_source(cls, value: str | None) -> str | None:
        return None if value is None else MOTION_SOURCES.check(value)

    @field_validator("renderer")
    @classmethod
    def _known_renderer(cls, value: str | None) -> str | None:
        return None if value is None else RENDERERS.check(value)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is not None and value not in BACKENDS:
            raise ValueError(f"unknown backend {value!r}; known: {', '.join(BACKENDS)}")
        return value

    def resolve(self, settings: Settings) -> ResolvedOptions:
        """Fill every unset option from the settings; :class:`OptionError` if the stages cannot run
        on the chosen backend (the router answers 422)."""
        motion_source = pick(self.motion_source, settings.motion_source)
        renderer = pick(self.renderer, settings.renderer)
        backend = pick(self.backend, settings.backend)
        try:
            check_backend(
                backend, MOTION_SOURCES.get(motion_source).backends, f"motion source {motion_source!r}"
            )
            check_backend(backend, RENDERERS.get(renderer).backends, f"renderer {renderer!r}")
        except ValueError as exc:
            raise OptionError(str(exc)) from None
        return ResolvedOptions(
            lookahead=pick(self.lookahead, settings.lookahead_frames),
            resolution=pick(self.resolution, settings.resolution),
            return_audio=pick(self.return_audio, settings.return_audio),
            bitrate=pick(self.bitrate, settings.video_bitrate),
            codec=pick(self.codec, settings.video_codec),
            motion_source=motion_source,
            renderer=renderer,
            backend=backend,
            emotion=self.emotion,
            emotion_intensity=pick(self.emotion_intensity, 1.0),
        )


class ResolvedOptions(BaseModel):
    """The options a session actually runs with (reported back in the answer and in stats)."""

    model_config = ConfigDict(frozen=True)

    lookahead: int
    resolution: int
    return_audio: bool
    bitrate: int
    codec: Literal["h264", "vp8"]
    motion_source: str
    renderer: str
    backend: str
    emotion: str | None = None  # None: inferred from the voice
    emotion_intensity: float = 1.0
