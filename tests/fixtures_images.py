"""Real portraits and bad inputs for the avatar tests, built in memory (nothing downloaded).

Portraits: scikit-image's astronaut (NASA, public domain) and matplotlib's Grace Hopper sample
(US Navy, public domain). Bad inputs are made from them: no face, two faces, a face too small, a
cut-off JPEG, a text file, a decompression bomb, a sideways JPEG with an EXIF orientation tag.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the astronaut portrait")


def encode(pixels: np.ndarray, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **params)
    return buffer.getvalue()


@functools.cache
def astronaut() -> np.ndarray:
    """[512, 512, 3] uint8; one face about 104 px wide."""
    return np.ascontiguousarray(skimage_data.astronaut()[..., :3])


@functools.cache
def grace_hopper_path() -> Path:
    matplotlib = pytest.importorskip("matplotlib", reason="matplotlib ships the Grace Hopper sample")
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not path.is_file():
        pytest.skip(f"{path} is missing from this matplotlib")
    return path


@functools.cache
def grace_hopper_jpeg() -> bytes:
    """The file as shipped: a 512x600 JPEG, one face about 200 px wide."""
    return grace_hopper_path().read_bytes()


@functools.cache
def grace_hopper() -> np.ndarray:
    with Image.open(io.BytesIO(grace_hopper_jpeg())) as image:
        return np.asarray(image.convert("RGB"))


def no_face_jpeg() -> bytes:
    """A real photo without a face (scikit-image's coffee cup)."""
    return encode(np.ascontiguousarray(skimage_data.coffee()), "JPEG", quality=90)


def flat_png() -> bytes:
    return encode(np.full((300, 400, 3), (90, 140, 200), np.uint8))


@functools.cache
def two_faces_png() -> bytes:
    """Astronaut (face ~104 px, left) and Grace Hopper scaled so her face is ~140 px (right)."""
    grace = cv2.resize(grace_hopper(), (358, 420), interpolation=cv2.INTER_AREA)
    canvas = np.full((620, 960, 3), 128, np.uint8)
    canvas[:512, :512] = astronaut()
    canvas[100:520, 560:918] = grace
    return encode(canvas)


def small_face_png(width: int = 240, canvas: int = 1024) -> bytes:
    """The astronaut shrunk to ``width`` px (face ~width/5) on a large grey canvas."""
    small = cv2.resize(astronaut(), (width, width), interpolation=cv2.INTER_AREA)
    image = np.full((canvas, canvas, 3), 200, np.uint8)
    image[300 : 300 + width, 500 : 500 + width] = small
    return encode(image)


def truncated_jpeg() -> bytes:
    data = grace_hopper_jpeg()
    return data[: len(data) // 2]


def text_as_jpg() -> bytes:
    return b"This is a shopping list, not a photo.\nmilk\neggs\n" * 20


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid tiny PNG whose header declares ``width`` x ``height`` (a decompression bomb)."""
    data = bytearray(encode(np.zeros((8, 8, 3), np.uint8)))
    # Signature (8) + IHDR length (4) + b"IHDR" (4), then width, height; CRC after 13 data bytes.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def sideways_exif_jpeg() -> bytes:
    """Grace Hopper stored rotated 90 degrees counter-clockwise with EXIF orientation 6.

    Orientation 6 tells viewers to rotate 90 degrees clockwise to display, which makes it upright.
    """
    stored = Image.fromarray(grace_hopper()).transpose(Image.Transpose.ROTATE_90)  # CCW
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def webp_portrait() -> bytes:
    return encode(astronaut(), "WEBP", quality=90)


def leftovers(root: Path) -> list[str]:
    """Temporary or trash entries under an avatar root (must be none after any request)."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))
