"""Portrait pixels -> everything a bundle holds (pure computation; the store does the disk part).

decode -> detect faces -> choose one (the rules users see: none, several, too small) -> mesh it ->
estimate its placement, pose and expression with the face model -> aligned crops at each size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.avatar.align import align_face, warp_crop
from xactor.engines.avatar.bundle import SIZES, FaceBoxMeta, HeadPose
from xactor.engines.avatar.detect import FaceBox, detect_faces, mesh_face
from xactor.engines.avatar.errors import FaceTooSmallError, MultipleFacesError, NoFaceError
from xactor.engines.face_model import NEUTRAL_FACE, estimate_placement, fit_expression

log = logging.getLogger(__name__)

EXPRESSION_REPORT_MIN = 0.05  # coefficients listed in meta.json; the full vector is in the geometry


@dataclass(frozen=True)
class PreparedFace:
    """Geometry and crops of the chosen face; arrays ready for
    :func:`xactor.engines.avatar.bundle.write_bundle`."""

    face: FaceBox
    faces_detected: int
    crops: dict[int, np.ndarray]  # size -> [S, S, 3] uint8
    geometry: dict[str, np.ndarray]
    pose: HeadPose
    expression: dict[str, float]

    @property
    def face_box(self) -> FaceBoxMeta:
        """Box of the meshed face (tighter and more reliable than the detector's) + detector score."""
        lm = self.geometry["landmarks_source"]
        (x0, y0), (x1, y1) = lm[:, :2].min(axis=0), lm[:, :2].max(axis=0)
        return FaceBoxMeta(x0=float(x0), y0=float(y0), x1=float(x1), y1=float(y1), score=self.face.score)


def choose_face(faces: list[FaceBox], *, min_face_px: int, largest: bool) -> FaceBox:
    """Apply the user-facing rules; faces smaller than ``min_face_px`` do not count as "another face"."""
    if not faces:
        raise NoFaceError(
            "No face was found in this picture. Use a photo where one face looks roughly toward "
            "the camera, is well lit and not covered."
        )
    usable = [f for f in faces if f.side >= min_face_px]
    if not usable:
        raise FaceTooSmallError(_too_small(max(f.side for f in faces), min_face_px))
    if len(usable) > 1 and not largest:
        raise MultipleFacesError(
            f"This picture shows {len(usable)} faces; an avatar needs exactly one. Crop the photo to "
            "one person, or ask for the largest face (CLI --largest, API largest=true).",
            count=len(usable),
        )
    return max(usable, key=lambda f: f.width * f.height)


def _too_small(size: float, min_face_px: int) -> str:
    return (
        f"The face is too small ({size:.0f} pixels across; at least {min_face_px} are needed). "
        "Use a closer or higher-resolution photo."
    )


def prepare_face(
    source: np.ndarray, *, min_face_px: int, largest: bool, sizes: tuple[int, ...] = SIZES
) -> PreparedFace:
    """Find, mesh and crop the face in ``source`` [H, W, 3] uint8 RGB."""
    height, width = source.shape[:2]
    if min(height, width) < min_face_px:
        raise FaceTooSmallError(
            f"The picture is only {width}x{height} pixels; a face needs at least {min_face_px} "
            "pixels across. Use a larger photo."
        )
    faces = detect_faces(source)
    log.debug("detected %d face(s): %s", len(faces), faces)
    face = choose_face(faces, min_face_px=min_face_px, largest=largest)
    landmarks = mesh_face(source, face)
    if landmarks is None:
        raise NoFaceError(
            "A face was found but its features could not be located (it may be turned too far "
            "away, covered, or blurred). Use a photo that shows the face from the front."
        )
    source_placement = estimate_placement(landmarks)
    if source_placement.scale < min_face_px:
        # The detector box can be loose on large pictures; the mesh measures the face itself.
        raise FaceTooSmallError(_too_small(source_placement.scale, min_face_px))
    canonical = source_placement.to_canonical(landmarks)  # [478, 3] the portrait's own face
    coeffs = fit_expression(canonical, NEUTRAL_FACE)  # [34] expression + gaze
    yaw, pitch, roll = source_placement.angles()

    geometry: dict[str, np.ndarray] = {
        "landmarks_source": landmarks,
        "canonical_shape": canonical,
        "expression": coeffs,
    }
    crops: dict[int, np.ndarray] = {}
    for size in sizes:
        alignment = align_face(landmarks, size, face_width=source_placement.scale)
        crop_landmarks = alignment.to_crop(landmarks)  # [478, 3]
        placement = estimate_placement(crop_landmarks)
        crops[size] = warp_crop(source, alignment)
        geometry[f"landmarks_{size}"] = crop_landmarks
        geometry[f"transform_{size}"] = alignment.crop_to_source
        for key, value in placement.as_dict().items():
            geometry[f"{key}_{size}"] = value

    names = ms.NAMES[ms.DEFORM_SLICE]
    expression = {
        name: round(float(v), 4)
        for name, v in zip(names, coeffs, strict=True)
        if abs(float(v)) >= EXPRESSION_REPORT_MIN
    }
    return PreparedFace(
        face=face,
        faces_detected=len(faces),
        crops=crops,
        geometry=geometry,
        pose=HeadPose(yaw=yaw, pitch=pitch, roll=roll),
        expression=expression,
    )
