"""Errors a user can act on, each with the HTTP status the API answers with.

Every failure while preparing or fetching an avatar is one of these; the API and the CLI show
``message`` as is, so it says what went wrong and what to do, in plain words.
"""

from __future__ import annotations


class AvatarError(Exception):
    """Base class: ``message`` for people, ``code`` for programs, ``status`` for HTTP."""

    status: int = 400
    code: str = "avatar_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedImageError(AvatarError):
    """Not an image at all, or a format we do not take (a text file named .jpg, a GIF, a PDF)."""

    status = 415
    code = "unsupported_image"


class CorruptImageError(AvatarError):
    """The file claims to be an image but cannot be decoded (truncated download, damaged bytes)."""

    status = 422
    code = "corrupt_image"


class ImageTooLargeError(AvatarError):
    """Declared pixel count above the limit: refused before decoding (decompression-bomb guard)."""

    status = 413
    code = "image_too_large"


class UploadTooLargeError(AvatarError):
    """The upload itself is bigger than ``max_upload_mb``; reading stops as soon as it is."""

    status = 413
    code = "upload_too_large"


class NoFaceError(AvatarError):
    """No face found, or a face found that could not be meshed."""

    status = 422
    code = "no_face"


class MultipleFacesError(AvatarError):
    """More than one usable face and the caller did not ask for the largest."""

    status = 422
    code = "multiple_faces"

    def __init__(self, message: str, count: int) -> None:
        super().__init__(message)
        self.count = count


class FaceTooSmallError(AvatarError):
    """The face is too small to animate well."""

    status = 422
    code = "face_too_small"


class InvalidAvatarIdError(AvatarError):
    """An id that is not 16 hex digits (this is also what path-traversal attempts get)."""

    status = 422
    code = "invalid_avatar_id"


class AvatarNotFoundError(AvatarError):
    """A well-formed id with no bundle on disk."""

    status = 404
    code = "avatar_not_found"


class IncompatibleBundleError(AvatarError):
    """A bundle written by a different bundle-format version; it must be added again."""

    status = 409
    code = "incompatible_bundle"


class BadUploadError(AvatarError):
    """The request is not a multipart upload with a file in the field ``file``."""

    status = 422
    code = "bad_upload"
