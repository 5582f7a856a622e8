"""Errors a user can act on while preparing or fetching an avatar.

Pure domain errors: ``code`` for programs, ``message`` for people, nothing about how they travel.
The API maps each to an HTTP status (``server/errors.py``), the CLI prints ``message`` as is, so
it says what went wrong and what to do, in plain words.
"""

from __future__ import annotations


class AvatarError(Exception):
    """Base class: ``message`` for people, ``code`` (a stable snake_case reason) for programs."""

    code: str = "avatar_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedImageError(AvatarError):
    """Not an image at all, or a format we do not take (a text file named .jpg, a GIF, a PDF)."""

    code = "unsupported_image"


class CorruptImageError(AvatarError):
    """The file claims to be an image but cannot be decoded (truncated download, damaged bytes)."""

    code = "corrupt_image"


class ImageTooLargeError(AvatarError):
    """Declared pixel count above the limit: refused before decoding (decompression-bomb guard)."""

    code = "image_too_large"


class NoFaceError(AvatarError):
    """No face found, or a face found that could not be meshed."""

    code = "no_face"


class MultipleFacesError(AvatarError):
    """More than one usable face and the caller did not ask for the largest."""

    code = "multiple_faces"

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count


class FaceTooSmallError(AvatarError):
    """The face is too small to animate well."""

    code = "face_too_small"


class InvalidAvatarIdError(AvatarError):
    """An id that is not 16 hex digits (this is also what path-traversal attempts get)."""

    code = "invalid_avatar_id"


class AvatarNotFoundError(AvatarError):
    """A well-formed id with no bundle on disk."""

    code = "avatar_not_found"


class IncompatibleBundleError(AvatarError):
    """A bundle written by a different bundle-format version; it must be added again."""

    code = "incompatible_bundle"
