"""One error shape for every API answer: ``{"detail": {"code": ..., "message": ...}}``.

Routers raise :func:`api_error`, or let an engine's domain error through: :data:`AVATAR_STATUS`
maps each :class:`~xactor.engines.avatar.errors.AvatarError` to its HTTP status, the one place
that does. :func:`install_error_handlers` answers those, and reshapes what FastAPI and Starlette
answer on their own (validation errors, unparseable bodies, unknown routes, wrong methods) so a
client parses one shape whatever went wrong; :func:`error_responses` documents the same shape, with
examples, in OpenAPI. Refusals are client mistakes: they are logged in one line, never with a
traceback, and never answered with a 500.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from xactor.engines.avatar.errors import (
    AvatarError,
    AvatarNotFoundError,
    CorruptImageError,
    FaceTooSmallError,
    ImageTooLargeError,
    IncompatibleBundleError,
    InvalidAvatarIdError,
    MultipleFacesError,
    NoFaceError,
    UnsupportedImageError,
)

log = logging.getLogger(__name__)

MAX_FIELD_ERRORS = 20
"""At most this many entries in ``detail.errors`` (a body with 10,000 unknown keys gets 20)."""

_MAX_SHOWN = 120  # characters of client-supplied text (paths, field names) echoed back


class FieldError(BaseModel):
    """One invalid field of a request (``invalid_request`` only)."""

    model_config = ConfigDict(extra="forbid")

    loc: list[str | int] = Field(
        description="Where: 'body', 'query', 'path' or 'header', then the field path"
    )
    msg: str = Field(description="What is wrong with it")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", description="Stable machine-readable reason, e.g. 'no_face'"
    )
    message: str = Field(description="What went wrong and what to do, for people")
    errors: list[FieldError] = Field(
        default_factory=list,
        description="Only with code 'invalid_request' (and then always): each invalid field",
    )


class ErrorResponse(BaseModel):
    """The body of every 4xx (and 503) answer of the API."""

    model_config = ConfigDict(extra="forbid")

    detail: ErrorDetail


def api_error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> HTTPException:
    """The exception a router raises to refuse a request in the documented shape."""
    return HTTPException(
        status, detail={"code": code, "message": message}, headers=dict(headers or {}) or None
    )


# --- engine errors -----------------------------------------------------------------------------

AVATAR_STATUS: Mapping[type[AvatarError], int] = {
    UnsupportedImageError: 415,
    CorruptImageError: 422,
    ImageTooLargeError: 413,
    NoFaceError: 422,
    MultipleFacesError: 422,
    FaceTooSmallError: 422,
    InvalidAvatarIdError: 422,
    AvatarNotFoundError: 404,
    IncompatibleBundleError: 409,
}
"""The HTTP status of each avatar error (the engines know none); a class not listed takes its
nearest listed base's, else 400."""


def avatar_status(error: AvatarError | type[AvatarError]) -> int:
    """The HTTP status the API answers ``error`` (an instance or a class) with."""
    cls = error if isinstance(error, type) else type(error)
    for base in cls.__mro__:
        if base in AVATAR_STATUS:
            return AVATAR_STATUS[base]
    return 400


def avatar_api_error(error: AvatarError) -> HTTPException:
    """``error`` as the refusal a router raises: its status, its code, its message."""
    return api_error(avatar_status(error), error.code, error.message)


# --- OpenAPI ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorDoc:
    """One way a route can refuse a request, for the OpenAPI spec: status, code, when, an example."""

    status: int
    code: str
    when: str
    example: str
    headers: tuple[tuple[str, str], ...] = ()  # (name, description) of headers sent with it
    errors: tuple[FieldError, ...] = ()  # example ``detail.errors`` (invalid_request)

    @classmethod
    def of(cls, error: type[AvatarError], when: str, example: str) -> ErrorDoc:
        """The doc of an avatar error: its code from the class, its status from the table."""
        return cls(avatar_status(error), error.code, when, example)

    def body(self) -> dict[str, Any]:
        """The example body, exactly as the API sends it."""
        detail: dict[str, Any] = {"code": self.code, "message": self.example}
        if self.errors:
            detail["errors"] = [e.model_dump() for e in self.errors]
        return {"detail": detail}


UNAUTHORIZED = ErrorDoc(
    401,
    "unauthorized",
    "XACTOR_TOKEN is set and the 'Authorization: Bearer <token>' header is missing or wrong",
    "Missing bearer token: send 'Authorization: Bearer <token>'.",
    headers=(("WWW-Authenticate", "Always 'Bearer'"),),
)
BAD_REQUEST = ErrorDoc(
    400,
    "bad_request",
    "The body cannot be parsed: not JSON, not UTF-8, or nested too deeply",
    "The body is not valid UTF-8 JSON.",
)
INVALID_REQUEST = ErrorDoc(
    422,
    "invalid_request",
    "A parameter or a body field does not match the schema; detail.errors lists each one",
    "body.options.lookahead: Input should be greater than or equal to 0",
    errors=(
        FieldError(loc=["body", "options", "lookahead"], msg="Input should be greater than or equal to 0"),
    ),
)
NOT_FOUND = ErrorDoc(404, "not_found", "No such route or file", "Nothing at GET /nope.")
METHOD_NOT_ALLOWED = ErrorDoc(
    405,
    "method_not_allowed",
    "The route exists but not with this method",
    "PUT is not allowed on /sessions; use GET, POST.",
    headers=(("Allow", "The methods the route takes"),),
)

_GENERIC = {
    doc.status: doc for doc in (BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, METHOD_NOT_ALLOWED, INVALID_REQUEST)
}


def error_responses(*errors: int | ErrorDoc) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: every status it refuses with, the error model as the
    schema, and one named example per code. A bare status means the generic error of that status
    (401 unauthorized, 422 invalid_request, ...); several docs of one status share its entry."""
    by_status: dict[int, list[ErrorDoc]] = {}
    for item in errors:
        doc = item if isinstance(item, ErrorDoc) else _GENERIC.get(item)
        if doc is None:
            raise ValueError(f"no generic error for status {item}; pass an ErrorDoc")
        by_status.setdefault(doc.status, []).append(doc)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, docs in sorted(by_status.items()):
        entry: dict[str, Any] = {
            "model": ErrorResponse,
            "description": "; ".join(f"`{d.code}`: {d.when}" for d in docs),
            "content": {
                "application/json": {
                    "examples": {d.code: {"summary": d.when, "value": d.body()} for d in docs}
                }
            },
        }
        headers = {
            name: {"description": text, "schema": {"type": "string"}}
            for d in docs
            for name, text in d.headers
        }
        if headers:
            entry["headers"] = headers
        responses[status] = entry
    return responses


# --- handlers -----------------------------------------------------------------------------------

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _code_for(status: int) -> str:
    """Snake-case code of a status that came without one (e.g. 404 -> not_found)."""
    if status in _CODES:
        return _CODES[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_") or "error"


def _escaped(text: object) -> str:
    """``text`` on one line: control characters (newlines included) written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def _shown(text: object) -> str:
    """Client-supplied text, safe to echo and log: escaped, length capped."""
    s = _escaped(text)
    return s if len(s) <= _MAX_SHOWN else s[: _MAX_SHOWN - 1] + "…"


def _refuse(
    request: Request,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
) -> Response:
    """Log the refusal in one line and answer it in the documented shape."""
    level = logging.WARNING if status == 401 else logging.INFO
    path = _shown(request.url.path)
    log.log(level, "refused %s %s: %d %s: %s", request.method, path, status, code, _escaped(message))
    if not is_body_allowed_for_status_code(status):
        return Response(status_code=status, headers=dict(headers or {}))
    detail: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        detail["errors"] = list(errors)
    return JSONResponse({"detail": detail}, status_code=status, headers=dict(headers or {}))


def _is_error_detail(detail: object) -> bool:
    return (
        isinstance(detail, dict)
        and isinstance(detail.get("code"), str)
        and isinstance(detail.get("message"), str)
        and set(detail) <= {"code", "message", "errors"}
    )


def _message_for(request: Request, exc: StarletteHTTPException, allowed: str) -> str:
    """A message for an HTTPException raised without our shape (Starlette's 404/405, FastAPI's 400)."""
    path = _shown(request.url.path)
    status = exc.status_code
    if status == 404:
        return f"Nothing at {request.method} {path}."
    if status == 405:
        return f"{request.method} is not allowed on {path}" + (f"; use {allowed}." if allowed else ".")
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return "The body is not valid UTF-8 JSON."
    if isinstance(cause, RecursionError):
        return "The JSON body is nested too deeply."
    if status == 400 and cause is not None:
        return f"The body cannot be parsed ({type(cause).__name__})."
    if isinstance(exc.detail, str) and exc.detail:
        return _shown(exc.detail)
    return _code_for(status).replace("_", " ").capitalize() + "."


async def _http_error(request: Request, exc: Exception) -> Response:
    """Every HTTPException: ours pass through, the framework's are wrapped (headers kept)."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if _is_error_detail(exc.detail):
        detail: dict[str, Any] = exc.detail  # type: ignore[assignment]
        return _refuse(
            request, exc.status_code, detail["code"], detail["message"], headers, detail.get("errors")
        )
    allowed = ""
    if exc.status_code == 405:
        allowed = headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
    message = _message_for(request, exc, allowed)
    return _refuse(request, exc.status_code, _code_for(exc.status_code), message, headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request, given: str) -> str:
    """Every method the app would route at this path: Starlette's Allow names one route's only
    (``GET /sessions`` and ``POST /sessions`` are two routes)."""
    methods = {m.strip() for m in given.split(",") if m.strip()}
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return ", ".join([*(m for m in _METHODS if m in methods), *sorted(methods - set(_METHODS))])


def _loc(loc: Sequence[object]) -> list[str | int]:
    return [p if isinstance(p, int) else _shown(p) for p in loc]


async def _validation_error(request: Request, exc: Exception) -> Response:
    """422 ``invalid_request`` listing each field (loc, msg; never the input), or 400 ``bad_request``
    when the body is not JSON at all."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if broken is not None:
        reason = (broken.get("ctx") or {}).get("error", "JSON decode error")
        loc = broken.get("loc", ())
        where = f" at position {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        return _refuse(request, 400, "bad_request", f"The body is not valid JSON: {_shown(reason)}{where}.")
    fields = field_errors(errors)
    return _refuse(request, 422, "invalid_request", validation_message(errors), errors=fields)


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{"loc", "msg"}`` (never the input), the first MAX_FIELD_ERRORS."""
    return [{"loc": _loc(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors[:MAX_FIELD_ERRORS]]


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line for a request that does not match its schema (HTTP bodies, WebSocket requests)."""
    parts = [f"{'.'.join(map(str, f['loc'])) or 'request'}: {f['msg']}" for f in field_errors(errors)[:3]]
    message = "; ".join(parts) or "The request does not match the schema."
    if len(errors) > 3:
        message += f" (and {len(errors) - 3} more)"
    return message


async def _avatar_error(request: Request, exc: Exception) -> Response:
    """An avatar error a route let through: its status from :data:`AVATAR_STATUS`."""
    assert isinstance(exc, AvatarError)
    return _refuse(request, avatar_status(exc), exc.code, exc.message)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` answer ``{"detail": {"code", "message"}}`` (see module doc)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(AvatarError, _avatar_error)
