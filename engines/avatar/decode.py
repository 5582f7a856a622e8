"""Portrait bytes -> upright RGB pixels, refusing anything that is not a sane JPEG, PNG or WebP.

The declared size is checked from the header before any pixel is decoded (decompression bombs),
EXIF orientation is applied (phone photos are stored sideways), and very large photos are
reduced to ``max_side`` so that everything downstream works on a bounded image.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import (  # the plugins import registers the formats we accept
    Image,
    ImageOps,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)

from xactor.engines.avatar.errors import CorruptImageError, ImageTooLargeError, UnsupportedImageError

log = logging.getLogger(__name__)

# Pillow format names we accept. The JPEG opener also returns "MPO" for many cameras' JPEGs
# (JPEG + preview frames); those are JPEGs too.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP")
EXIF_ORIENTATION_TAG = 0x0112
DEFAULT_MAX_SIDE = 2048


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB portrait and where it came from."""

    pixels: np.ndarray  # [H, W, 3] uint8 RGB, upright, longer side <= max_side
    format: str  # "JPEG", "PNG" or "WEBP"
    original_size: tuple[int, int]  # (width, height) upright, before any downscaling
    orientation: int  # EXIF orientation tag of the file (1 = stored upright)

    @property
    def scale(self) -> float:
        """Pixels of ``pixels`` per pixel of the original (1.0 when not downscaled)."""
        return self.pixels.shape[1] / self.original_size[0]


def decode_image(data: bytes, *, max_pixels: int, max_side: int = DEFAULT_MAX_SIDE) -> DecodedImage:
    """Decode ``data`` into an upright RGB image; raise an :class:`AvatarError` subclass on bad input."""
    if not data:
        raise UnsupportedImageError("The file is empty. Upload a JPEG, PNG or WebP photo.")
    with warnings.catch_warnings():
        # Pillow warns (then errors) past its own global limit; both mean "too large" here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLargeError(_too_large_message(None, max_pixels)) from exc
        except UnidentifiedImageError as exc:
            raise _unidentified(data) from exc
        except Exception as exc:  # Pillow's header parsers raise many types on damaged files
            log.info("image header unreadable: %r", exc)
            raise CorruptImageError(
                "The image file is damaged and could not be read. Try exporting it again."
            ) from exc

        with image:
            width, height = image.size
            if width <= 0 or height <= 0:
                raise CorruptImageError("The image declares an empty size; the file is damaged.")
            if width * height > max_pixels:
                raise ImageTooLargeError(_too_large_message((width, height), max_pixels))
            orientation = _orientation(image)
            fmt = "JPEG" if image.format == "MPO" else str(image.format)
            try:
                image.seek(0)  # animated WebP/PNG: the first frame is the portrait
                if fmt == "JPEG":
                    # DCT-domain downscaling: decodes huge JPEGs at a fraction of the cost.
                    image.draft("RGB", (max_side, max_side))
                image.load()
                upright = ImageOps.exif_transpose(image) if orientation != 1 else image
                rgb = _to_rgb(upright)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ImageTooLargeError(_too_large_message((width, height), max_pixels)) from exc
            except Exception as exc:  # truncated data, bad Huffman tables, zlib errors, ...
                log.info("image data undecodable: %r", exc)
                raise CorruptImageError(
                    "The image file is incomplete or damaged (it may have been cut off while "
                    "copying or downloading). Try the original file again."
                ) from exc

    original = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    target = original
    if max(original) > max_side:
        factor = max_side / max(original)
        target = (max(1, round(original[0] * factor)), max(1, round(original[1] * factor)))
    if rgb.size != target:  # draft() may already have reduced a JPEG by a power of two
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    return DecodedImage(pixels=pixels, format=fmt, original_size=original, orientation=orientation)


_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (8, b"WEBP", "WEBP"),
    (0, b"GIF8", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (0, b"%PDF", "PDF"),
)


def _unidentified(data: bytes) -> CorruptImageError | UnsupportedImageError:
    """Pillow could not open it: a damaged file of a format we take, or another kind of file."""
    kind = next((name for at, magic, name in _SIGNATURES if data[at : at + len(magic)] == magic), None)
    if kind in ACCEPTED_FORMATS:
        return CorruptImageError(
            f"The file starts like a {kind} image but is damaged and could not be read. "
            "Try exporting it again."
        )
    what = f"a {kind} file" if kind else "not a JPEG, PNG or WebP image (whatever its name says)"
    return UnsupportedImageError(f"This file is {what}. Upload a JPEG, PNG or WebP photo.")


def _orientation(image: Image.Image) -> int:
    """EXIF orientation 1..8, or 1 when missing or unreadable (a damaged EXIF block is not fatal)."""
    try:
        value = int(image.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparency is flattened onto white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        high = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        grey = np.clip(values / high * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _too_large_message(size: tuple[int, int] | None, max_pixels: int) -> str:
    limit = f"{max_pixels / 1e6:.0f} megapixels"
    if size is None:
        return f"The image is too large to process (the limit is {limit}). Resize it and try again."
    return (
        f"The image declares {size[0]}x{size[1]} pixels ({size[0] * size[1] / 1e6:.0f} megapixels); "
        f"the limit is {limit}. Resize it and try again."
    )
