"""Decoding: formats, EXIF orientation, downscaling, and every kind of bad file."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from tests import fixtures_images as fx
from xactor.engines.avatar.decode import decode_image
from xactor.engines.avatar.errors import CorruptImageError, ImageTooLargeError, UnsupportedImageError

LIMIT = 40_000_000


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_accepts_png_jpeg_webp(fmt: str) -> None:
    decoded = decode_image(fx.encode(fx.astronaut(), fmt), max_pixels=LIMIT)
    assert decoded.format == fmt
    assert decoded.pixels.shape == (512, 512, 3) and decoded.pixels.dtype == np.uint8
    err = np.abs(decoded.pixels.astype(int) - fx.astronaut()).mean()
    assert err < (0.01 if fmt == "PNG" else 6.0)


def test_exif_orientation_is_applied() -> None:
    decoded = decode_image(fx.sideways_exif_jpeg(), max_pixels=LIMIT)
    assert decoded.orientation == 6
    assert decoded.pixels.shape == (600, 512, 3)  # upright, as the viewer shows it
    assert decoded.original_size == (512, 600)
    assert np.abs(decoded.pixels.astype(int) - fx.grace_hopper()).mean() < 6.0


@pytest.mark.parametrize(
    ("fmt", "size", "reduced"),
    [("JPEG", (4400, 4200), (2048, 1955)), ("PNG", (3000, 2000), (2048, 1365))],
    ids=["jpeg-draft", "png"],  # big JPEGs are first reduced in the DCT domain (draft)
)
def test_large_images_are_reduced_to_max_side(
    fmt: str, size: tuple[int, int], reduced: tuple[int, int]
) -> None:
    big = np.asarray(Image.fromarray(fx.astronaut()).resize(size))
    data = fx.encode(big, fmt, **({"compress_level": 1} if fmt == "PNG" else {"quality": 80}))
    decoded = decode_image(data, max_pixels=LIMIT, max_side=2048)
    assert decoded.pixels.shape == (reduced[1], reduced[0], 3)
    assert decoded.original_size == size
    assert decoded.scale == pytest.approx(2048 / size[0])
    small = np.asarray(Image.fromarray(big).resize(reduced, Image.Resampling.LANCZOS))
    assert np.abs(decoded.pixels.astype(int) - small).mean() < 4.0


def test_transparency_is_flattened_on_white_and_grey_becomes_rgb() -> None:
    rgba = np.zeros((20, 20, 4), np.uint8)  # fully transparent black
    decoded = decode_image(fx.encode(rgba), max_pixels=LIMIT)
    assert (decoded.pixels == 255).all()
    grey = decode_image(fx.encode(np.full((20, 30), 77, np.uint8)), max_pixels=LIMIT)
    assert grey.pixels.shape == (20, 30, 3) and (grey.pixels == 77).all()
    deep = np.full((10, 10), 65535 // 2, np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(deep).save(buffer, format="PNG")
    assert abs(int(decode_image(buffer.getvalue(), max_pixels=LIMIT).pixels[0, 0, 0]) - 128) <= 1


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", UnsupportedImageError),
        (fx.text_as_jpg(), UnsupportedImageError),
        (fx.encode(np.zeros((8, 8, 3), np.uint8), "GIF"), UnsupportedImageError),
        (fx.truncated_jpeg(), CorruptImageError),
        (fx.grace_hopper_jpeg()[:200], CorruptImageError),  # header only
    ],
    ids=["empty", "text-named-jpg", "gif", "truncated-jpeg", "header-only"],
)
def test_bad_files_raise_user_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        decode_image(data, max_pixels=LIMIT)
    assert info.value.code in ("unsupported_image", "corrupt_image")
    assert "JPEG" in info.value.message or "damaged" in info.value.message or "empty" in info.value.message


def test_damaged_png_header_is_corrupt_not_a_crash() -> None:
    data = bytearray(fx.encode(fx.astronaut()))
    data[29] ^= 0xFF  # break the IHDR checksum
    with pytest.raises(CorruptImageError):
        decode_image(bytes(data), max_pixels=LIMIT)


@pytest.mark.parametrize("size", [(100_000, 100_000), (8000, 6000)], ids=["huge", "over-setting"])
def test_decompression_bomb_is_refused_from_the_header(size: tuple[int, int]) -> None:
    bomb = fx.png_bomb(*size)
    assert struct.unpack(">II", bomb[16:24]) == size  # the header really declares that size
    assert len(bomb) < 1000
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(bomb, max_pixels=LIMIT)
    assert info.value.code == "image_too_large"
    assert "megapixels" in info.value.message
