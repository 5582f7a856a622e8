"""One error shape for every API answer (server/errors.py), and an OpenAPI spec that lists it.

Every refusal must be ``{"detail": {"code", "message"}}`` with a 4xx (or 503) status, whoever
raised it (a router, FastAPI's validation, Starlette's routing, the body parser, the token check);
the spec must list each status a route can answer, and each documented example must be what the
API really sends.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from fastapi import FastAPI

from tests import fixtures_images as fx
from tests.server.live.conftest import make_app, serving
from xactor.engines.avatar.decode import decode_image
from xactor.engines.avatar.store import AvatarStore, avatar_id
from xactor.server.errors import MAX_FIELD_ERRORS, ErrorResponse

pytestmark = pytest.mark.anyio

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
STALE_ID = "fedcba9876543210"  # a bundle written by another bundle format version


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def served(data_dir: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A token-protected app (one session slot) and a client that sends the token."""
    app = make_app(data_dir, token=TOKEN, max_sessions=1)
    async with serving(app) as http:
        http.headers.update(AUTH)
        yield app, http


async def _offer(*transceivers: tuple[str, str]) -> str:
    """An offer with these (kind, direction) transceivers; a browser's by default (mic sent,
    video received)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN
    for kind, direction in transceivers or (("audio", "sendrecv"), ("video", "recvonly")):
        pc.addTransceiver(kind, direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


VIEWER = (("video", "recvonly"), ("audio", "recvonly"))  # a WHEP viewer's offer


def _assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``r`` is a refusal in the documented shape (no extra keys anywhere) with this status and code."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json", r.headers
    body = r.json()
    ErrorResponse.model_validate(body)  # extra="forbid": FastAPI's own shapes fail here
    detail: dict[str, Any] = body["detail"]
    assert detail["code"] == code, detail
    assert detail["message"].strip(), detail
    return detail


# --- finding 1: one shape, whoever refuses ------------------------------------------------------


async def test_validation_errors_are_invalid_request_with_each_field(served) -> None:
    _, http = served
    sdp = await _offer()
    for options, loc in (({"lookahead": -1}, "lookahead"), ({"nope": 1}, "nope")):
        r = await http.post("/sessions", json={"sdp": sdp, "options": options})
        detail = _assert_error(r, 422, "invalid_request")
        assert detail["errors"] == [{"loc": ["body", "options", loc], "msg": detail["errors"][0]["msg"]}]
        assert f"body.options.{loc}" in detail["message"]
    r = await http.post("/sessions", json={"sdp": sdp, "type": "answer", "options": {"bitrate": 1}})
    detail = _assert_error(r, 422, "invalid_request")
    assert {tuple(e["loc"]) for e in detail["errors"]} == {("body", "type"), ("body", "options", "bitrate")}
    _assert_error(await http.post("/sessions"), 422, "invalid_request")  # no body at all


async def test_many_invalid_fields_are_capped_and_inputs_never_echoed(served) -> None:
    _, http = served
    options = {f"unknown{i}": "SECRET-INPUT" for i in range(500)}
    r = await http.post("/sessions", json={"sdp": "x", "options": options})
    detail = _assert_error(r, 422, "invalid_request")
    assert len(detail["errors"]) == MAX_FIELD_ERRORS and "(and 497 more)" in detail["message"]
    assert "SECRET-INPUT" not in r.text
    long_key = "k" * 100_000
    r = await http.post("/sessions", json={"sdp": "x", "options": {long_key: 1}})
    _assert_error(r, 422, "invalid_request")
    assert len(r.content) < 2_000  # the 100 kB field name is cut, not echoed


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"sdp": "\xff\xfe"}', "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"sdp": ', "not valid JSON"),
        (b'{"sdp": "x"}}', "not valid JSON"),
    ],
    ids=["not-utf8", "nested-100000-deep", "truncated", "trailing-garbage"],
)
async def test_unparseable_bodies_are_400_bad_request(served, body: bytes, reason: str) -> None:
    _, http = served
    r = await http.post("/sessions", content=body, headers=JSON)
    assert reason in _assert_error(r, 400, "bad_request")["message"]


async def test_deep_but_parseable_nesting_is_a_plain_422(served) -> None:
    _, http = served
    deep = b'{"sdp": "x", "options": {"a": ' + b"[" * 900 + b"]" * 900 + b"}}"
    r = await http.post("/sessions", content=deep, headers=JSON)
    assert _assert_error(r, 422, "invalid_request")["errors"][0]["loc"] == ["body", "options", "a"]
    assert len(r.content) < 1_000


async def test_unknown_routes_are_404_not_found(served) -> None:
    _, http = served
    for method, path in (
        ("GET", "/nope"),
        ("GET", "/sessions/abc/extra"),
        ("POST", "/"),
        ("PUT", "/sessions"),  # the web client's mount at / takes wrong methods too: 404, not 405
        ("GET", "/%00"),
        ("GET", "/..%2F..%2Fetc/passwd"),
    ):
        r = await http.request(method, path)
        assert "\x00" not in _assert_error(r, 404, "not_found")["message"]


async def test_wrong_methods_are_405_with_allow(data_dir: Path, tmp_path: Path) -> None:
    app = make_app(data_dir, web_client_dir=tmp_path)  # no index.html: the web client is not mounted
    async with serving(app) as http:
        r = await http.put("/sessions")
        detail = _assert_error(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "GET, POST" and "GET, POST" in detail["message"]
        _assert_error(await http.patch("/health"), 405, "method_not_allowed")
        _assert_error(await http.get("/nope"), 404, "not_found")


async def test_401_keeps_www_authenticate(served) -> None:
    _, http = served
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic czNjcmV0"},
    ):
        for method, path in (
            ("GET", "/sessions"),
            ("GET", "/avatars"),
            ("GET", "/metrics"),
            ("POST", "/sessions"),
        ):
            r = await http.request(method, path, headers=headers)
            _assert_error(r, 401, "unauthorized")
            assert r.headers["www-authenticate"] == "Bearer"
    # the token is checked before the body is validated: an invalid offer without a token is a 401
    r = await http.post("/sessions", json={"sdp": 1, "options": {"nope": 1}}, headers={"Authorization": ""})
    _assert_error(r, 401, "unauthorized")


async def test_refusals_are_logged_in_one_line_with_their_code(
    served, caplog: pytest.LogCaptureFixture
) -> None:
    _, http = served
    caplog.set_level(logging.INFO, logger="xactor.server.errors")
    await http.post("/sessions", json={"sdp": "x", "options": {"lookahead": -1}})
    await http.get("/nope")
    await http.get("/sessions", headers={"Authorization": ""})
    await http.post("/sessions", content=b"[" * 100_000, headers=JSON)
    await http.get("/sessions/x%0Aforged%20line")  # a newline in the echoed id
    refused = [r for r in caplog.records if r.name == "xactor.server.errors"]
    assert [r.levelno for r in refused] == [logging.INFO] * 2 + [logging.WARNING] + [logging.INFO] * 2
    messages = [r.getMessage() for r in refused]
    codes = ["invalid_request", "not_found", "unauthorized", "bad_request", "session_not_found"]
    for message, code in zip(messages, codes, strict=True):
        assert code in message and "\n" not in message, message
    web = [
        r
        for r in caplog.records
        if r.name.startswith(("xactor.server.errors", "xactor.server.routers", "fastapi", "starlette"))
    ]
    assert all(r.exc_info is None and r.levelno < logging.ERROR for r in web), (
        "a client mistake logged an error"
    )


# --- finding 3: the session table is read on the event loop -------------------------------------


async def test_session_reads_run_on_the_event_loop(served) -> None:
    """A worker thread reading the table while the loop changes it fails ~1 in 500 polls; the
    routes must run on the loop (async def), where no change can interleave."""
    app, http = served
    manager = app.state.sessions
    threads: list[int] = []
    real_stats, real_get = manager.stats, manager.get
    manager.stats = lambda: threads.append(threading.get_ident()) or real_stats()
    manager.get = lambda sid: threads.append(threading.get_ident()) or real_get(sid)
    assert (await http.get("/sessions")).json() == []
    _assert_error(await http.get("/sessions/0123456789abcdef"), 404, "session_not_found")
    assert threads == [threading.get_ident()] * 2


# --- finding 4: the spec lists every status, and its examples are real ---------------------------


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _concrete(path: str) -> str:
    return path.replace("{avatar_id}", "default").replace("{session_id}", "0123456789abcdef")


async def _protected(http: httpx.AsyncClient, spec: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of the operations that really answer 401 without the token."""
    protected = set()
    for method, path, _ in _operations(spec):
        r = await http.request(method, _concrete(path), headers={"Authorization": ""})
        if r.status_code == 401:
            protected.add((method, path))
    return protected


async def test_openapi_lists_every_status_with_the_error_model(served) -> None:
    _, http = served
    spec = (await http.get("/openapi.json")).json()
    protected = await _protected(http, spec)
    assert ("POST", "/sessions") in protected and ("GET", "/metrics") in protected
    assert ("GET", "/health") not in protected and ("GET", "/ready") not in protected  # probes
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's own 422 shape
    for method, path, op in _operations(spec):
        where = f"{method} {path}"
        statuses = set(op["responses"])
        assert ("401" in statuses) == ((method, path) in protected), where
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in statuses, where
        if "{" in path:
            assert "404" in statuses, where
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}, (where, status)
            assert content["examples"], (where, status)
            for code, example in content["examples"].items():
                ErrorResponse.model_validate(example["value"])
                assert example["value"]["detail"]["code"] == code
            assert response["description"].strip()
    post = spec["paths"]["/sessions"]["post"]["responses"]
    assert {"400", "401", "404", "422", "503"} <= set(post)
    assert {"bad_offer", "bad_request"} <= set(post["400"]["content"]["application/json"]["examples"])
    assert "Retry-After" in post["503"]["headers"]
    assert "WWW-Authenticate" in post["401"]["headers"]


@dataclass
class Ctx:
    app: FastAPI
    http: httpx.AsyncClient
    sdp: str
    stale_upload: bytes
    viewer_sdp: str = ""


Trigger = Callable[[Ctx], Awaitable[httpx.Response]]


def _upload(data: bytes, filename: str = "photo.png") -> Trigger:
    return lambda c: c.http.post("/avatars", files={"file": (filename, data, "image/png")})


async def _session_limit(c: Ctx) -> httpx.Response:
    """Take the one slot with a real session, offer another, end the first."""
    first = await c.http.post("/sessions", json={"sdp": c.sdp})
    assert first.status_code == 201, first.text
    try:
        return await c.http.post("/sessions", json={"sdp": c.sdp})
    finally:
        assert (await c.http.delete(f"/sessions/{first.json()['session_id']}")).status_code == 204


async def _with_session(c: Ctx, then: Callable[[str], Awaitable[httpx.Response]]) -> httpx.Response:
    """A real (never connected) session for the request ``then(session_id)``; ended afterwards."""
    made = await c.http.post("/sessions", json={"sdp": c.sdp})
    assert made.status_code == 201, made.text
    sid = made.json()["session_id"]
    try:
        return await then(sid)
    finally:
        assert (await c.http.delete(f"/sessions/{sid}")).status_code == 204


async def _no_tts(c: Ctx) -> httpx.Response:
    """A server without espeak-ng answers 503."""
    import xactor.engines.audio.tts as tts

    real = tts.shutil.which
    tts.shutil.which = lambda name: None  # type: ignore[assignment,misc]
    try:
        return await c.http.post("/sessions/0123456789abcdef/say", json={"text": "hi"})
    finally:
        tts.shutil.which = real


async def _too_many_viewers(c: Ctx) -> httpx.Response:
    settings = c.app.state.sessions.settings
    limit, settings.max_viewers = settings.max_viewers, 0
    try:
        return await _with_session(
            c, lambda sid: c.http.post(f"/sessions/{sid}/whep", content=c.viewer_sdp, headers=SDP)
        )
    finally:
        settings.max_viewers = limit


async def _too_many_outputs(c: Ctx) -> httpx.Response:
    async def fill(sid: str) -> httpx.Response:
        for _ in range(4):  # nothing listens there: each output retries quietly until the end
            assert (await c.http.post(f"/sessions/{sid}/outputs", json=RTMP)).status_code == 201
        return await c.http.post(f"/sessions/{sid}/outputs", json=RTMP)

    return await _with_session(c, fill)


async def _warming_up(c: Ctx) -> httpx.Response:
    """/ready while the start-up warm-up runs (whether or not this app's has ended by now)."""
    was, c.app.state.ready = c.app.state.ready, False
    try:
        return await c.http.get("/ready")
    finally:
        c.app.state.ready = was


def _by_id(base: str) -> dict[str, Trigger]:
    """Triggers shared by the /avatars/{avatar_id}... routes (``base`` has a {} for the id)."""
    return {
        "avatar_not_found": lambda c: c.http.get(base.format("0123456789abcdef")),
        "invalid_avatar_id": lambda c: c.http.get(base.format("not-an-id")),
        "incompatible_bundle": lambda c: c.http.get(base.format(STALE_ID)),
    }


TRIGGERS: dict[tuple[str, str], dict[str, Trigger]] = {
    ("GET", "/ready"): {"warming_up": _warming_up},
    ("POST", "/avatars"): {
        "upload_too_large": lambda c: c.http.post(
            "/avatars",
            content=b"x" * 100,
            headers={"content-type": "multipart/form-data; boundary=x", "content-length": str(50 * 2**20)},
        ),
        "image_too_large": _upload(fx.png_bomb()),
        "unsupported_image": _upload(fx.text_as_jpg(), "list.jpg"),
        "bad_upload": lambda c: c.http.post(
            "/avatars", content=fx.flat_png(), headers={"content-type": "image/png"}
        ),
        "corrupt_image": lambda c: _upload(fx.truncated_jpeg(), "cut.jpg")(c),
        "no_face": _upload(fx.flat_png()),
        "incompatible_bundle": lambda c: _upload(c.stale_upload)(c),
        "invalid_request": lambda c: c.http.post("/avatars", params={"name": "n" * 201}),
    },
    ("GET", "/avatars/{avatar_id}"): _by_id("/avatars/{}"),
    ("GET", "/avatars/{avatar_id}/preview.png"): {
        **_by_id("/avatars/{}/preview.png"),
        "invalid_size": lambda c: c.http.get("/avatars/default/preview.png", params={"size": 300}),
        "invalid_request": lambda c: c.http.get("/avatars/default/preview.png", params={"size": "big"}),
    },
    ("GET", "/avatars/{avatar_id}/crop.png"): {
        **_by_id("/avatars/{}/crop.png"),
        "invalid_size": lambda c: c.http.get("/avatars/default/crop.png", params={"size": 300}),
        "invalid_request": lambda c: c.http.get("/avatars/default/crop.png", params={"size": "big"}),
    },
    ("DELETE", "/avatars/{avatar_id}"): {
        "avatar_not_found": lambda c: c.http.delete("/avatars/0123456789abcdef"),
        "invalid_avatar_id": lambda c: c.http.delete("/avatars/not-an-id"),
    },
    ("POST", "/sessions"): {
        "bad_offer": lambda c: c.http.post("/sessions", json={"sdp": c.sdp.replace("m=audio", "m=text")}),
        "bad_request": lambda c: c.http.post("/sessions", content=b'{"sdp": "\xff"}', headers=JSON),
        "avatar_not_found": lambda c: c.http.post(
            "/sessions", json={"sdp": c.sdp, "avatar_id": "0123456789abcdef"}
        ),
        "incompatible_bundle": lambda c: c.http.post("/sessions", json={"sdp": c.sdp, "avatar_id": STALE_ID}),
        "invalid_request": lambda c: c.http.post(
            "/sessions", json={"sdp": c.sdp, "options": {"lookahead": -1}}
        ),
        "invalid_option": lambda c: c.http.post(
            "/sessions", json={"sdp": c.sdp, "options": {"backend": "tensorrt", "motion_source": "generator"}}
        ),
        "too_many_sessions": _session_limit,
    },
    ("GET", "/sessions/{session_id}"): {
        "session_not_found": lambda c: c.http.get("/sessions/0123456789abcdef"),
        "invalid_request": lambda c: c.http.get("/sessions/" + "x" * 65),
    },
    ("DELETE", "/sessions/{session_id}"): {
        "session_not_found": lambda c: c.http.delete("/sessions/0123456789abcdef"),
        "invalid_request": lambda c: c.http.delete("/sessions/" + "x" * 65),
    },
    ("POST", "/sessions/{session_id}/clear"): {
        "session_not_found": lambda c: c.http.post("/sessions/0123456789abcdef/clear"),
        "invalid_request": lambda c: c.http.post("/sessions/" + "x" * 65 + "/clear"),
    },
    ("POST", "/sessions/{session_id}/say"): {
        "session_not_found": lambda c: c.http.post("/sessions/0123456789abcdef/say", json={"text": "hi"}),
        "invalid_request": lambda c: c.http.post("/sessions/0123456789abcdef/say", json={"text": ""}),
        "invalid_voice": lambda c: c.http.post(
            "/sessions/0123456789abcdef/say", json={"text": "hi", "voice": "zz-qq"}
        ),
        "tts_unavailable": _no_tts,
    },
    ("POST", "/sessions/{session_id}/whep"): {
        "bad_offer": lambda c: c.http.post("/sessions/0123456789abcdef/whep", content="v=x", headers=SDP),
        "session_not_found": lambda c: c.http.post(
            "/sessions/0123456789abcdef/whep", content=c.viewer_sdp, headers=SDP
        ),
        "unsupported_media_type": lambda c: c.http.post("/sessions/0123456789abcdef/whep", json={}),
        "invalid_request": lambda c: c.http.post(
            "/sessions/" + "x" * 65 + "/whep", content="v=0", headers=SDP
        ),
        "too_many_viewers": _too_many_viewers,
    },
    ("DELETE", "/sessions/{session_id}/whep/{viewer_id}"): {
        "viewer_not_found": lambda c: c.http.delete("/sessions/0123456789abcdef/whep/0123456789abcdef"),
        "invalid_request": lambda c: c.http.delete("/sessions/0123456789abcdef/whep/" + "x" * 65),
    },
    ("POST", "/sessions/{session_id}/outputs"): {
        "session_not_found": lambda c: c.http.post("/sessions/0123456789abcdef/outputs", json=RTMP),
        "invalid_request": lambda c: c.http.post(
            "/sessions/0123456789abcdef/outputs", json={"rtmp": "http://x/y"}
        ),
        "too_many_outputs": _too_many_outputs,
    },
    ("GET", "/sessions/{session_id}/outputs"): {
        "session_not_found": lambda c: c.http.get("/sessions/0123456789abcdef/outputs"),
        "invalid_request": lambda c: c.http.get("/sessions/" + "x" * 65 + "/outputs"),
    },
    ("DELETE", "/sessions/{session_id}/outputs/{output_id}"): {
        "session_not_found": lambda c: c.http.delete("/sessions/0123456789abcdef/outputs/abc"),
        "output_not_found": lambda c: _with_session(
            c, lambda sid: c.http.delete(f"/sessions/{sid}/outputs/abc")
        ),
        "invalid_request": lambda c: c.http.delete("/sessions/0123456789abcdef/outputs/" + "x" * 65),
    },
}
SDP = {"Content-Type": "application/sdp"}
LONG = "x" * 65  # one character over the id limit
RTMP = {"rtmp": "rtmp://127.0.0.1:9/live/key"}


def _stale_bundle(store: AvatarStore, ident: str) -> None:
    """A bundle folder written by bundle format 0 (this server reads another)."""
    (store.root / ident).mkdir()
    (store.root / ident / "meta.json").write_text(json.dumps({"version": 0, "id": ident}))


async def test_every_documented_error_example_really_comes_back(served) -> None:
    """Each (route, code) example of the spec is produced for real, with its status, its shape
    (the same detail keys), and the headers the spec promises; 401 on every protected route."""
    app, http = served
    spec = (await http.get("/openapi.json")).json()
    store: AvatarStore = app.state.avatar_store
    stale_upload = fx.encode(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    decoded = decode_image(stale_upload, max_pixels=store.max_image_pixels, max_side=store.max_side)
    _stale_bundle(store, STALE_ID)
    _stale_bundle(store, avatar_id(decoded.pixels))
    ctx = Ctx(app, http, await _offer(), stale_upload, await _offer(*VIEWER))

    documented = {}
    for method, path, op in _operations(spec):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                for code, example in response["content"]["application/json"]["examples"].items():
                    documented[(method, path, code)] = (
                        int(status),
                        example["value"],
                        response.get("headers", {}),
                    )
    triggers = {(m, p, code) for (m, p), by_code in TRIGGERS.items() for code in by_code}
    assert {k for k in documented if k[2] != "unauthorized"} == triggers, "spec and triggers differ"

    for (method, path, code), (status, example, headers) in sorted(documented.items()):
        if code == "unauthorized":
            r = await http.request(method, _concrete(path), headers={"Authorization": ""})
        else:
            r = await TRIGGERS[(method, path)][code](ctx)
        detail = _assert_error(r, status, code)
        assert set(detail) == set(example["detail"]), (method, path, code, detail)
        for name in headers:
            assert r.headers.get(name), (method, path, code, name)
    assert len(app.state.sessions) == 0


# --- engine errors carry no HTTP status: the server maps them ------------------------------------


def test_every_avatar_error_has_its_status_in_the_server() -> None:
    import xactor.engines.avatar.errors as domain
    from xactor.server.errors import AVATAR_STATUS, avatar_status

    errors = [
        cls
        for cls in vars(domain).values()
        if isinstance(cls, type) and issubclass(cls, domain.AvatarError) and cls is not domain.AvatarError
    ]
    assert set(errors) == set(AVATAR_STATUS)  # a new engine error gets a status here
    assert all(not hasattr(cls, "status") for cls in errors)  # and none in the engine
    assert {cls.code: avatar_status(cls) for cls in errors} == {
        "unsupported_image": 415,
        "corrupt_image": 422,
        "image_too_large": 413,
        "no_face": 422,
        "multiple_faces": 422,
        "face_too_small": 422,
        "invalid_avatar_id": 422,
        "avatar_not_found": 404,
        "incompatible_bundle": 409,
    }

    class Unlisted(domain.NoFaceError):
        pass

    assert avatar_status(Unlisted("x")) == 422 and avatar_status(domain.AvatarError("x")) == 400
