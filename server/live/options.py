"""Per-session options: what a client may choose in ``POST /sessions``; defaults come from Settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.settings import Settings


class SessionOptions(BaseModel):
    """Client-chosen options; ``None`` means "the server's default" (see :meth:`resolve`)."""

    model_config = ConfigDict(extra="forbid")

    lookahead: int | None = Field(None, ge=0, le=8, description="Future audio frames (40 ms) per frame.")
    resolution: int | None = Field(None, ge=64, le=1024, description="Square frame side in pixels.")
    return_audio: bool | None = Field(None, description="Send the input audio back, aligned to the video.")
    bitrate: int | None = Field(None, ge=50_000, le=20_000_000, description="Video bitrate, bits/s.")
    codec: Literal["h264", "vp8"] | None = Field(None, description="Preferred video codec.")

    def resolve(self, settings: Settings) -> ResolvedOptions:
        """Fill every unset option from the settings."""
        return ResolvedOptions(
            lookahead=settings.lookahead_frames if self.lookahead is None else self.lookahead,
            resolution=settings.resolution if self.resolution is None else self.resolution,
            return_audio=settings.return_audio if self.return_audio is None else self.return_audio,
            bitrate=settings.video_bitrate if self.bitrate is None else self.bitrate,
            codec=settings.video_codec if self.codec is None else self.codec,
        )


class ResolvedOptions(BaseModel):
    """The options a session actually runs with (reported back in the answer and in stats)."""

    model_config = ConfigDict(frozen=True)

    lookahead: int
    resolution: int
    return_audio: bool
    bitrate: int
    codec: Literal["h264", "vp8"]
