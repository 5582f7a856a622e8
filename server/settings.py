"""All server configuration in one pydantic-settings class (environment variables prefixed XACTOR_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from aiortc import RTCIceServer
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from xactor.engines.motion_source.base import MOTION_SOURCES
from xactor.engines.registry import BACKENDS, check_backend
from xactor.engines.render.base import RENDERERS


class IceServer(BaseModel):
    """A STUN or TURN server for the peers, as WebRTC's ``RTCIceServer``."""

    urls: list[str] = Field(min_length=1, description="stun:, turn: or turns: URLs of one server")
    username: str | None = Field(None, description="TURN user name")
    credential: str | None = Field(None, description="TURN password")

    @field_validator("urls", mode="before")
    @classmethod
    def _one_url(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class Settings(BaseSettings):
    """Server settings; every field can be set as ``XACTOR_<NAME>`` or in a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="XACTOR_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Field(Path("data"), description="Avatar bundles and other state live here.")
    max_sessions: int | None = Field(
        None,
        ge=1,
        description="Concurrent live sessions; more get 503. Unset: the capacity measured at start-up.",
    )
    session_id_prefix: str = Field(
        "",
        pattern=r"^([a-z0-9]{1,24}-)?$",
        description="Put in front of every session id: a cluster worker's replica tag ('<tag>-'), so "
        "follow-ups find their owner; empty for a single process.",
    )
    token: str | None = Field(None, description="When set, API calls need 'Authorization: Bearer <token>'.")
    ice_servers: list[IceServer] = Field(
        default_factory=list,
        description='STUN/TURN servers for the peers: URLs, or objects {"urls", "username", "credential"} '
        'for TURN (XACTOR_ICE_SERVERS=\'[{"urls": "turn:turn.example.com:3478", "username": "u", '
        '"credential": "p"}]\').',
    )
    max_upload_mb: float = Field(15.0, gt=0, description="Largest portrait upload accepted.")
    max_image_pixels: int = Field(40_000_000, gt=0, description="Decompression-bomb guard.")
    min_face_px: int = Field(64, ge=16, description="Smallest face (box side, pixels) accepted.")
    log_level: str = "info"
    loop_stall_ms: float = Field(
        100.0,
        gt=0,
        description="Event-loop lag counted (xactor_loop_stalls_total) and logged, with the loop's stack, "
        "as a stall: a blocked loop delays every session's audio, frames and signalling.",
    )
    worker_stall_ms: float = Field(
        250.0,
        gt=0,
        description="A render-worker turn this long is a stall (xactor_worker_stalls_total, logged): "
        "every session skips frames meanwhile.",
    )
    gc_freeze: bool = Field(
        True,
        description="Once start-up has loaded the models, exempt the objects alive then from Python's "
        "garbage collections (gc.freeze): a full collection otherwise walks them all and stops every "
        "session for hundreds of milliseconds.",
    )

    # Stages (engines/): picked by name from their registries; sessions may override them.
    motion_source: str = Field(
        "generator",
        description="Motion source (registered name); 'generator' falls back to 'heuristic' without weights.",
    )
    renderer: str = Field("warp", description="Renderer (registered name).")
    procedural_avatars: int = Field(
        2,
        ge=0,
        le=16,
        description="Procedural identities prepared at start-up as avatars (the diffusion renderer's "
        "domain; drawn from seeds its training never saw).",
    )
    backend: str = Field("auto", description="Runtime backend: auto, torch, onnxruntime or tensorrt.")
    weights_dir: Path | None = Field(None, description="Learned weights (default: the shipped ones).")
    renderer_cache_mb: float = Field(
        1024.0, gt=0, description="Memory for per-avatar renderer caches shared by sessions (LRU)."
    )
    torch_threads: int = Field(
        1,
        ge=0,
        description="torch's intra-op threads of the render worker (0: torch's default, one per core). "
        "One by default: a second thread shortens a warp frame by about a millisecond, but its pool "
        "costs 2-4.5 ms of CPU a frame live while saving the render thread 0.3-2.4 (bench/RESULTS.md), "
        "and the encoders and the event loop need those cores.",
    )

    render_threads: int = Field(
        2,
        ge=1,
        le=64,
        description="Intra-op threads of a renderer's own ONNX Runtime session (the diffusion denoiser), "
        "sleeping between calls. Two render a frame sooner and carry more sessions at full rate; one "
        "costs about 0.1-0.2 of a core less per session (bench/RESULTS.md).",
    )

    # Live sessions (server/live). Per-session options in POST /sessions override the defaults.
    lookahead_frames: int = Field(1, ge=0, le=8, description="Future audio frames (40 ms) a frame waits for.")
    resolution: int = Field(256, ge=64, le=1024, description="Rendered square frame side in pixels.")
    video_codec: Literal["h264", "vp8"] = Field(
        "h264", description="Preferred codec; the other is the fallback."
    )
    video_bitrate: int = Field(600_000, ge=50_000, le=20_000_000, description="Video target bitrate, bits/s.")
    h264_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = Field("veryfast", description="libx264 preset (tune zerolatency, baseline).")
    keyframe_interval_s: float = Field(2.0, gt=0, le=60, description="Seconds between forced keyframes.")
    return_audio: bool = Field(False, description="Send the input audio back, delayed to match the video.")
    audio_prefetch: int = Field(
        0, ge=0, le=16, description="Audio jitter buffer wait, packets (0: none; aiortc: 4)."
    )
    mic_stall_ms: float = Field(100.0, gt=0, description="Feed silence after this long without audio.")
    session_idle_timeout_s: float = Field(
        15.0, gt=0, description="Close a session after this long without audio from its client."
    )
    connect_timeout_s: float = Field(
        5.0, gt=0, description="Close a session whose peer connection is not up this long after the answer."
    )
    retry_after_s: int = Field(5, ge=1, description="Retry-After of the 503 at the session limit.")
    max_viewers: int = Field(16, ge=1, le=256, description="WHEP viewers per session.")
    rtmp_url: str | None = Field(
        None,
        pattern=r"^rtmps?://[^\s]+$",
        description="Push every live session to this RTMP ingest too (rtmp://host/app/KEY).",
    )
    web_client_dir: Path | None = Field(
        None, description="Web client folder (default: the installed web_client package)."
    )

    @field_validator("ice_servers", mode="before")
    @classmethod
    def _urls_as_servers(cls, value: object) -> object:
        """A bare URL is a server without credentials (the older, simpler form)."""
        if isinstance(value, list):
            return [{"urls": v} if isinstance(v, str) else v for v in value]
        return value

    def rtc_ice_servers(self) -> list[RTCIceServer]:
        """The ICE servers as aiortc wants them (the server's own peer connections relay too)."""
        return [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in self.ice_servers
        ]

    @field_validator("data_dir", "weights_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @field_validator("weights_dir")
    @classmethod
    def _weights_exist(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"weights_dir {value} is not a folder")
        return value

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"unknown backend {value!r}; known: {', '.join(BACKENDS)}")
        return value

    @model_validator(mode="after")
    def _known_stages(self) -> Settings:
        """Refuse unknown stage names, and backends a stage cannot run on, at start-up."""
        for registry, name in ((MOTION_SOURCES, self.motion_source), (RENDERERS, self.renderer)):
            spec = registry.get(name)
            check_backend(self.backend, spec.backends, f"{registry.kind} {name!r}")
        return self


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings, read once (tests build their own ``Settings`` and pass them in)."""
    return Settings()
