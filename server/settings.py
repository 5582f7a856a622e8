"""All server configuration in one pydantic-settings class (environment variables prefixed XACTOR_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Server settings; every field can be set as ``XACTOR_<NAME>`` or in a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="XACTOR_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Field(Path("data"), description="Avatar bundles and other state live here.")
    max_sessions: int = Field(4, ge=1, description="Concurrent live sessions; more get 503.")
    token: str | None = Field(None, description="When set, API calls need 'Authorization: Bearer <token>'.")
    ice_servers: list[str] = Field(default_factory=list, description="STUN/TURN URLs given to peers.")
    max_upload_mb: float = Field(15.0, gt=0, description="Largest portrait upload accepted.")
    max_image_pixels: int = Field(40_000_000, gt=0, description="Decompression-bomb guard.")
    min_face_px: int = Field(64, ge=16, description="Smallest face (box side, pixels) accepted.")
    log_level: str = "info"

    # Live sessions (server/live). Per-session options in POST /sessions override the defaults.
    lookahead_frames: int = Field(1, ge=0, le=8, description="Future audio frames (40 ms) a frame waits for.")
    resolution: int = Field(256, ge=64, le=1024, description="Rendered square frame side in pixels.")
    video_codec: Literal["h264", "vp8"] = Field(
        "h264", description="Preferred codec; the other is the fallback."
    )
    video_bitrate: int = Field(600_000, ge=50_000, le=20_000_000, description="Video target bitrate, bits/s.")
    h264_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = Field("fast", description="libx264 preset (tune zerolatency, baseline).")
    keyframe_interval_s: float = Field(2.0, gt=0, le=60, description="Seconds between forced keyframes.")
    return_audio: bool = Field(False, description="Send the input audio back, delayed to match the video.")
    audio_prefetch: int = Field(
        0, ge=0, le=16, description="Audio jitter buffer wait, packets (0: none; aiortc: 4)."
    )
    mic_stall_ms: float = Field(100.0, gt=0, description="Feed silence after this long without audio.")
    session_idle_timeout_s: float = Field(
        15.0, gt=0, description="Close a session after this long without audio from its client."
    )
    retry_after_s: int = Field(5, ge=1, description="Retry-After of the 503 at the session limit.")
    web_client_dir: Path | None = Field(None, description="Web client folder (default: repo web_client/).")

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings, read once (tests build their own ``Settings`` and pass them in)."""
    return Settings()
