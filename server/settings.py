"""All server configuration in one pydantic-settings class (environment variables prefixed XACTOR_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings, read once (tests build their own ``Settings`` and pass them in)."""
    return Settings()
