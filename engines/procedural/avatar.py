"""A procedural identity as an avatar bundle: the same files a prepared photo gives, with the
geometry known exactly instead of detected (no MediaPipe), and its seed recorded, so renderers of
the procedural domain (the diffusion renderer) know they may run on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.avatar.bundle import SIZES, AvatarBundle, FaceBoxMeta, HeadPose
from xactor.engines.avatar.store import AvatarStore
from xactor.engines.procedural.identity import sample_identity
from xactor.engines.procedural.render import ProceduralFace

SOURCE_SIZE = 512
TEST_SEED_BASE = 2_000_000  # identities the renderer never trained on (its test split)


@dataclass(frozen=True)
class ProceduralPortrait:
    """Everything :func:`xactor.engines.avatar.bundle.write_bundle` needs, plus the meta fields."""

    seed: int
    source: np.ndarray  # [512, 512, 3] uint8: the portrait, which is also its own 512 crop
    crops: dict[int, np.ndarray]
    geometry: dict[str, np.ndarray]
    pose: HeadPose
    face_box: FaceBoxMeta


def procedural_portrait(seed: int, sizes: tuple[int, ...] = SIZES) -> ProceduralPortrait:
    """The identity of ``seed`` at rest, with exact landmarks, placements and transforms per size."""
    identity = sample_identity(seed)
    zero = np.zeros(ms.MOTION_DIM, np.float32)
    full = ProceduralFace(identity, SOURCE_SIZE)
    source = full.render(zero)
    landmarks_source = full.face_model.landmarks(zero)  # [478, 3]
    geometry: dict[str, np.ndarray] = {
        "landmarks_source": landmarks_source,
        "canonical_shape": identity.neutral,
        "expression": np.zeros(ms.DEFORM_SLICE.stop - ms.DEFORM_SLICE.start, np.float32),
    }
    crops = {}
    for size in sizes:
        face = full if size == SOURCE_SIZE else ProceduralFace(identity, size)
        crops[size] = source if size == SOURCE_SIZE else face.render(zero)
        geometry[f"landmarks_{size}"] = face.face_model.landmarks(zero)
        k = full.placement.scale / face.placement.scale  # source px per crop px (same rotation)
        t_crop, t_src = face.placement.translation, full.placement.translation
        geometry[f"transform_{size}"] = np.array(
            [[k, 0.0, t_src[0] - k * t_crop[0]], [0.0, k, t_src[1] - k * t_crop[1]]], np.float64
        )
        for key, value in face.placement.as_dict().items():
            geometry[f"{key}_{size}"] = value
    yaw, pitch, roll = full.placement.angles()
    (x0, y0), (x1, y1) = landmarks_source[:, :2].min(0), landmarks_source[:, :2].max(0)
    return ProceduralPortrait(
        seed=seed,
        source=source,
        crops=crops,
        geometry=geometry,
        pose=HeadPose(yaw=yaw, pitch=pitch, roll=roll),
        face_box=FaceBoxMeta(x0=float(x0), y0=float(y0), x1=float(x1), y1=float(y1), score=1.0),
    )


def add_procedural(store: AvatarStore, seed: int, name: str | None = None) -> tuple[AvatarBundle, bool]:
    """(bundle, created): the procedural identity of ``seed`` as an avatar of ``store``, with its
    exact geometry; the same seed always gives the same avatar (and is not drawn twice)."""
    found = store.find_procedural(seed)
    if found is not None:
        return found, False
    return store.add_drawn(procedural_portrait(seed), name)
