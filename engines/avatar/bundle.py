"""The on-disk avatar bundle: what preparing a portrait produces, read back lazily.

Layout of ``<root>/<id>/`` (format ``BUNDLE_VERSION``)::

    meta.json              AvatarMeta (pydantic): id, name, sizes, face box, pose, expression, ...
    source.png             the upright portrait (longer side <= 2048); transforms point into it
    crop_256.png           aligned crops, uint8 RGB
    crop_512.png
    geometry.safetensors   float32 arrays:
        landmarks_source   [478, 3] in source pixels
        landmarks_<S>      [478, 3] in crop pixels (z scaled like x)
        transform_<S>      [2, 3]   crop -> source affine (pixel centres at integer coordinates)
        rotation_<S> [3, 3], scale_<S> [1], translation_<S> [3]   face-model Placement in the crop
        canonical_shape    [478, 3] the portrait's own face in the canonical frame (its neutral)
        expression         [34]     fitted expression + gaze coefficients of the portrait
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from safetensors.numpy import load_file, save_file

from xactor.engines.avatar.align import Alignment
from xactor.engines.avatar.errors import IncompatibleBundleError
from xactor.engines.face_model import Placement

BUNDLE_VERSION = 1
SIZES: tuple[int, ...] = (256, 512)
META_FILE = "meta.json"
SOURCE_FILE = "source.png"
GEOMETRY_FILE = "geometry.safetensors"


def crop_file(size: int) -> str:
    return f"crop_{size}.png"


class FaceBoxMeta(BaseModel):
    """The detected face box in source pixels, with the detector's confidence."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float


class HeadPose(BaseModel):
    """Head pose of the portrait, radians, motion-space convention (see engines.motion_space)."""

    yaw: float
    pitch: float
    roll: float


class AvatarMeta(BaseModel):
    """Everything about a bundle that fits in JSON; ``version`` gates reading it back."""

    model_config = ConfigDict(extra="ignore")

    version: int = BUNDLE_VERSION
    id: str = Field(pattern=r"^[0-9a-f]{16}$")
    name: str
    created: datetime
    source_format: str = Field(description="JPEG, PNG or WEBP")
    source_width: int
    source_height: int
    original_width: int = Field(description="Upright size of the uploaded picture, before downscaling")
    original_height: int
    exif_orientation: int = 1
    faces_detected: int
    face_box: FaceBoxMeta
    pose: HeadPose
    expression: dict[str, float] = Field(description="Fitted coefficients of the portrait above 0.05")
    sizes: list[int] = Field(default_factory=lambda: list(SIZES))
    num_landmarks: int = 478
    is_default: bool = False
    credit: str | None = None
    procedural_seed: int | None = Field(
        None, description="Set for a procedural identity (engines.procedural): the seed that draws it"
    )


@dataclass
class AvatarBundle:
    """A prepared avatar on disk; images and geometry load on first use and stay cached.

    Arrays handed out are read-only views of the cache: copy before editing.
    """

    path: Path
    meta: AvatarMeta
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: Path) -> AvatarBundle:
        raw = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        version = raw.get("version")
        if version != BUNDLE_VERSION:
            raise IncompatibleBundleError(
                f"Avatar {path.name} was prepared by bundle format {version}, this server reads "
                f"format {BUNDLE_VERSION}. Delete it and add the portrait again."
            )
        return cls(path=path, meta=AvatarMeta.model_validate(raw))

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(self.meta.sizes)

    def crop(self, size: int) -> np.ndarray:
        """Aligned crop [S, S, 3] uint8 RGB."""
        self._check_size(size)
        return self._cached(f"crop_{size}", lambda: _read_png(self.path / crop_file(size)))

    def source(self) -> np.ndarray:
        """The upright (possibly downscaled) portrait [H, W, 3] uint8 RGB that transforms point into."""
        return self._cached("source", lambda: _read_png(self.path / SOURCE_FILE))

    def landmarks(self, size: int) -> np.ndarray:
        """Reference landmarks [478, 3] float32 in crop pixels (z scaled like x)."""
        self._check_size(size)
        return self.geometry[f"landmarks_{size}"]

    def source_landmarks(self) -> np.ndarray:
        """Reference landmarks [478, 3] float32 in source pixels."""
        return self.geometry["landmarks_source"]

    def crop_to_source(self, size: int) -> np.ndarray:
        """[2, 3] affine from crop pixels to source pixels (for paste_back)."""
        self._check_size(size)
        return self.geometry[f"transform_{size}"]

    def alignment(self, size: int) -> Alignment:
        """Both directions of the crop transform as an :class:`Alignment`."""
        import cv2

        to_source = self.crop_to_source(size).astype(np.float64)
        return Alignment(size, cv2.invertAffineTransform(to_source), to_source)

    def placement(self, size: int) -> Placement:
        """Face-model placement of the reference face in crop pixels: px = scale * R @ canon + t."""
        self._check_size(size)
        g = self.geometry
        return Placement.from_dict(
            {
                "rotation": g[f"rotation_{size}"],
                "scale": g[f"scale_{size}"],
                "translation": g[f"translation_{size}"],
            }
        )

    @property
    def canonical_shape(self) -> np.ndarray:
        """The portrait's face [478, 3] in the canonical frame (pose and size removed)."""
        return self.geometry["canonical_shape"]

    @property
    def expression(self) -> np.ndarray:
        """Fitted expression + gaze coefficients [34] of the portrait (motion-space order)."""
        return self.geometry["expression"]

    @property
    def geometry(self) -> dict[str, np.ndarray]:
        return self._cached("geometry", lambda: _frozen(load_file(str(self.path / GEOMETRY_FILE))))

    def _check_size(self, size: int) -> None:
        if size not in self.meta.sizes:
            raise ValueError(f"avatar {self.id} has crops of sizes {self.meta.sizes}, not {size}")

    def _cached(self, key: str, load: Any) -> Any:
        with self._lock:
            if key not in self._cache:
                value = load()
                if isinstance(value, np.ndarray):
                    value.setflags(write=False)
                self._cache[key] = value
            return self._cache[key]


def write_bundle(
    directory: Path,
    meta: AvatarMeta,
    source: np.ndarray,
    crops: dict[int, np.ndarray],
    geometry: dict[str, np.ndarray],
) -> None:
    """Write all bundle files into an existing (temporary) ``directory``; fsync'd before returning."""
    _write_png(directory / SOURCE_FILE, source)
    for size, crop in crops.items():
        _write_png(directory / crop_file(size), crop)
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in geometry.items()}
    save_file(tensors, str(directory / GEOMETRY_FILE), metadata={"bundle_version": str(BUNDLE_VERSION)})
    (directory / META_FILE).write_text(meta.model_dump_json(indent=2), encoding="utf-8")
    for path in directory.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _write_png(path: Path, pixels: np.ndarray) -> None:
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), "RGB").save(
        path, format="PNG", compress_level=6
    )


def _frozen(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    for value in arrays.values():
        value.setflags(write=False)
    return arrays
