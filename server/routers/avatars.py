"""/avatars: upload a portrait, list, fetch, preview and delete prepared avatars.

Bad input answers 4xx with ``{"detail": {"code": ..., "message": ...}}`` (server/errors.py); the
message is meant for the person who uploaded. The store's avatar errors go through as they are:
the app's error handler gives each its status (``AVATAR_STATUS`` in server/errors.py). The upload
itself is the server's business, refused here: it is read in chunks and refused as soon as it
passes ``max_upload_mb`` (or at once from Content-Length), before anything is decoded.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message

from xactor.engines.avatar.bundle import SIZES, AvatarBundle, FaceBoxMeta, HeadPose
from xactor.engines.avatar.errors import (
    AvatarNotFoundError,
    CorruptImageError,
    ImageTooLargeError,
    IncompatibleBundleError,
    InvalidAvatarIdError,
    NoFaceError,
    UnsupportedImageError,
)
from xactor.engines.avatar.preview import png_bytes, preview_png
from xactor.engines.avatar.store import DEFAULT_ALIAS, ID_PATTERN, AvatarStore, name_from_filename
from xactor.server.errors import ErrorDoc, api_error, error_responses
from xactor.server.settings import Settings

log = logging.getLogger(__name__)

# 401: app.py includes this router behind the bearer-token check.
router = APIRouter(prefix="/avatars", tags=["avatars"], responses=error_responses(401))

_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers on top of the file itself

AVATAR_ID_PATTERN = rf"^(?:{ID_PATTERN.pattern.strip('^$')}|{DEFAULT_ALIAS})$"
"""What an avatar id may be (engines/avatar/store.py): 16 lowercase hex digits, or 'default'."""
MAX_AVATAR_ID_CHARS = 16

# Documented, not validated by FastAPI: the store's check answers 422 invalid_avatar_id (the code
# clients know) for an id outside the pattern, where FastAPI would answer invalid_request.
AvatarId = Annotated[
    str,
    Path(
        description="16 lowercase hex digits, or 'default'",
        json_schema_extra={"pattern": AVATAR_ID_PATTERN, "maxLength": MAX_AVATAR_ID_CHARS},
    ),
]
# Same for the crop size: a size the avatar lacks is 422 invalid_size, with the sizes it has.
CropSize = Annotated[int, Query(description="Crop size", json_schema_extra={"enum": list(SIZES)})]


class AvatarOut(BaseModel):
    """One prepared avatar."""

    id: str
    name: str
    created: datetime
    is_default: bool
    credit: str | None
    source_width: int
    source_height: int
    faces_detected: int
    face_box: FaceBoxMeta
    pose: HeadPose
    expression: dict[str, float]
    sizes: list[int]
    preview_url: str
    procedural_seed: int | None = Field(
        None, description="Set for a procedural identity: the seed that draws it (see renderers)"
    )
    renderers: list[str] = Field(description="Renderers that can run on this avatar")

    @classmethod
    def from_bundle(cls, bundle: AvatarBundle) -> AvatarOut:
        m = bundle.meta
        return cls(
            id=m.id,
            name=m.name,
            created=m.created,
            is_default=m.is_default,
            credit=m.credit,
            source_width=m.source_width,
            source_height=m.source_height,
            faces_detected=m.faces_detected,
            face_box=m.face_box,
            pose=m.pose,
            expression=m.expression,
            sizes=m.sizes,
            preview_url=f"/avatars/{m.id}/preview.png",
            procedural_seed=m.procedural_seed,
            renderers=["warp"] if m.procedural_seed is None else ["warp", "diffusion"],
        )


class AvatarList(BaseModel):
    avatars: list[AvatarOut]
    default_id: str | None = Field(description="Id of the avatar used when none is chosen")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _store(request: Request) -> AvatarStore:
    return request.app.state.avatar_store


SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[AvatarStore, Depends(_store)]


AVATAR_NOT_FOUND = ErrorDoc.of(
    AvatarNotFoundError, "No avatar with that id", "There is no avatar with id 0123456789abcdef."
)
INVALID_AVATAR_ID = ErrorDoc.of(
    InvalidAvatarIdError,
    "The id is not 16 lowercase hex digits (nor 'default')",
    "'..' is not an avatar id; ids are 16 lowercase hexadecimal characters (see the list of avatars).",
)
INCOMPATIBLE_BUNDLE = ErrorDoc.of(
    IncompatibleBundleError,
    "The avatar was prepared by another bundle format version; add its picture again",
    "Avatar 0123456789abcdef was prepared by bundle format 0, this server reads format 1. "
    "Delete it and add the portrait again.",
)
INVALID_SIZE = ErrorDoc(
    422, "invalid_size", "The avatar was not prepared at this crop size", "size must be one of [256, 512]"
)
UPLOAD_TOO_LARGE = ErrorDoc(
    413, "upload_too_large", "The upload is over max_upload_mb", "The upload is larger than 15 MB."
)
IMAGE_TOO_LARGE = ErrorDoc.of(
    ImageTooLargeError, "The picture has more pixels than max_image_pixels", "The picture is too large."
)
UNSUPPORTED_IMAGE = ErrorDoc.of(
    UnsupportedImageError, "Not a JPEG, PNG or WebP image", "This is not a JPEG, PNG or WebP picture."
)
BAD_UPLOAD = ErrorDoc(
    422,
    "bad_upload",
    "Not multipart/form-data, or no 'file' field",
    "No file in the upload: use a field named 'file'.",
)
CORRUPT_IMAGE = ErrorDoc.of(CorruptImageError, "A truncated or damaged picture", "The picture is damaged.")
NO_FACE = ErrorDoc.of(
    NoFaceError,
    "No usable face; also multiple_faces (several faces) and face_too_small",
    "No face was found in the picture.",
)
_BY_ID = (AVATAR_NOT_FOUND, INVALID_AVATAR_ID, INCOMPATIBLE_BUNDLE)

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP"},
                        "name": {"type": "string", "description": "Display name (default: file name)"},
                        "largest": {"type": "boolean", "description": "Use the largest of several faces"},
                    },
                }
            }
        },
    }
}


class UploadRefused(Exception):
    """The upload itself cannot be taken (too large, not multipart, no ``file``): one of the
    :data:`UPLOAD_TOO_LARGE` or :data:`BAD_UPLOAD` refusals, with its message."""

    def __init__(self, doc: ErrorDoc, message: str) -> None:
        super().__init__(message)
        self.doc, self.message = doc, message


def _bad_upload(message: str) -> UploadRefused:
    return UploadRefused(BAD_UPLOAD, message)


async def _read_upload(request: Request, limit: int) -> tuple[bytes, str | None, dict[str, str]]:
    """(file bytes, file name, other fields) of a multipart upload; stops reading past ``limit``."""
    too_large = UploadRefused(
        UPLOAD_TOO_LARGE,
        f"The upload is larger than the limit of {limit / 2**20:.1f} MB. Use a smaller photo.",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _MULTIPART_OVERHEAD:
        raise too_large
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise _bad_upload(
            "Send the portrait as multipart/form-data with the picture in a field named 'file' "
            "(curl -F file=@photo.jpg ...)."
        )
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit + _MULTIPART_OVERHEAD:
                raise too_large
        return message

    counted = Request(request.scope, receive)
    try:
        form = await counted.form(max_files=1, max_fields=8)
    except StarletteHTTPException as exc:  # malformed multipart (bad boundary, too many parts)
        raise _bad_upload(f"The upload is not valid multipart/form-data: {exc.detail}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _bad_upload("No file in the upload: put the picture in a multipart field named 'file'.")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise too_large
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return data, upload.filename, fields
    finally:
        await form.close()


@router.post(
    "",
    status_code=201,
    response_model=AvatarOut,
    responses={
        200: {"model": AvatarOut, "description": "This picture was already an avatar"},
        **error_responses(
            UPLOAD_TOO_LARGE,
            IMAGE_TOO_LARGE,
            UNSUPPORTED_IMAGE,
            BAD_UPLOAD,
            CORRUPT_IMAGE,
            NO_FACE,
            INCOMPATIBLE_BUNDLE,
            422,
        ),
    },
    openapi_extra=_UPLOAD_BODY,
    summary="Prepare an avatar from a portrait",
)
async def add_avatar(
    request: Request,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    largest: Annotated[bool, Query(description="Use the largest face when there are several")] = False,
    name: Annotated[str | None, Query(max_length=200, description="Display name")] = None,
) -> AvatarOut:
    """Upload a JPEG, PNG or WebP portrait (multipart field ``file``); 201 when new, 200 when known."""
    limit = int(settings.max_upload_mb * 2**20)
    try:
        data, filename, fields = await _read_upload(request, limit)
    except UploadRefused as exc:  # logged by the error handler (server/errors.py)
        raise api_error(exc.doc.status, exc.doc.code, exc.message) from None
    largest = largest or fields.get("largest", "").lower() in ("1", "true", "yes", "on")
    name = name or fields.get("name") or name_from_filename(filename)
    # an AvatarError (no face, not a picture, ...) goes to the app's handler: its status, its code
    bundle, created = await run_in_threadpool(store.add_or_get, data, name, largest)
    if not created:
        response.status_code = 200
    else:  # build its renderer now, in the background: its first session must not wait for it
        background: set[asyncio.Task[None]] = request.app.state.background
        task = asyncio.create_task(request.app.state.sessions.prepare_avatar(bundle))
        background.add(task)
        task.add_done_callback(background.discard)
    response.headers["Location"] = f"/avatars/{bundle.id}"
    return AvatarOut.from_bundle(bundle)


@router.get("", response_model=AvatarList, summary="List avatars")
async def list_avatars(store: StoreDep) -> AvatarList:
    bundles = await run_in_threadpool(store.list)
    default = next((b.id for b in bundles if b.meta.is_default), None)
    return AvatarList(avatars=[AvatarOut.from_bundle(b) for b in bundles], default_id=default)


async def _get(store: AvatarStore, avatar_id: str) -> AvatarBundle:
    return await run_in_threadpool(store.get, avatar_id)  # an AvatarError: the app's handler


async def _get_at_size(store: AvatarStore, avatar_id: str, size: int) -> AvatarBundle:
    """The bundle, after checking that it was prepared at crop ``size``."""
    bundle = await _get(store, avatar_id)
    if size not in bundle.sizes:
        raise api_error(422, "invalid_size", f"size must be one of {bundle.sizes}")
    return bundle


@router.get(
    "/{avatar_id}", response_model=AvatarOut, responses=error_responses(*_BY_ID), summary="One avatar"
)
async def get_avatar(avatar_id: AvatarId, store: StoreDep) -> AvatarOut:
    """``avatar_id`` is a 16-hex-digit id, or ``default``."""
    return AvatarOut.from_bundle(await _get(store, avatar_id))


@router.get(
    "/{avatar_id}/preview.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **error_responses(*_BY_ID, INVALID_SIZE, 422)},
    summary="The crop with the face mesh drawn on it",
)
async def avatar_preview(avatar_id: AvatarId, store: StoreDep, size: CropSize = 512) -> Response:
    bundle = await _get_at_size(store, avatar_id, size)
    png = await run_in_threadpool(preview_png, bundle, size)
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


@router.get(
    "/{avatar_id}/crop.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **error_responses(*_BY_ID, INVALID_SIZE, 422)},
    summary="The aligned crop itself (e.g. as a thumbnail)",
)
async def avatar_crop(avatar_id: AvatarId, store: StoreDep, size: CropSize = 256) -> Response:
    bundle = await _get_at_size(store, avatar_id, size)
    png = await run_in_threadpool(lambda: png_bytes(bundle.crop(size)))
    return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


@router.delete(
    "/{avatar_id}",
    status_code=204,
    responses=error_responses(AVATAR_NOT_FOUND, INVALID_AVATAR_ID),
    summary="Delete an avatar",
)
async def delete_avatar(request: Request, avatar_id: AvatarId, store: StoreDep) -> Response:
    deleted = await run_in_threadpool(store.delete, avatar_id)  # an AvatarError: the app's handler
    request.app.state.sessions.forget_avatar(deleted)
    return Response(status_code=204)
