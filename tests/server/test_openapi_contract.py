"""The REST contract is strict and says so: unknown body fields are refused by name, deeply nested
bodies are a clean 400 on every JSON route, and /openapi.json carries what the server enforces
(the avatar-id pattern, the resolution enum, maximum lengths, no extra fields)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from fastapi import FastAPI

from tests.server.live.conftest import make_app, serving
from xactor.engines.avatar.bundle import SIZES
from xactor.engines.avatar.store import ID_PATTERN
from xactor.server.live.options import Resolution
from xactor.server.routers.avatars import AVATAR_ID_PATTERN

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
SID = "0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def served(data_dir: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = make_app(data_dir, max_sessions=1)
    async with serving(app) as http:
        yield app, http


def _schema(spec: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    ref = ref_or_schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else ref_or_schema


def _body(spec: dict[str, Any], path: str) -> dict[str, Any]:
    content = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return _schema(spec, content["schema"])


def _param(spec: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    (param,) = [p for p in spec["paths"][path][method]["parameters"] if p["name"] == name]
    return param["schema"]


async def test_openapi_says_what_the_server_enforces(served) -> None:
    _, http = served
    spec = (await http.get("/openapi.json")).json()
    for path, method in (
        ("/avatars/{avatar_id}", "get"),
        ("/avatars/{avatar_id}", "delete"),
        ("/avatars/{avatar_id}/preview.png", "get"),
        ("/avatars/{avatar_id}/crop.png", "get"),
    ):
        schema = _param(spec, path, method, "avatar_id")
        assert schema["pattern"] == AVATAR_ID_PATTERN and schema["maxLength"] == 16, (path, method)
    for path in ("/avatars/{avatar_id}/preview.png", "/avatars/{avatar_id}/crop.png"):
        assert _param(spec, path, "get", "size")["enum"] == list(SIZES)

    offer = _body(spec, "/sessions")
    assert offer["additionalProperties"] is False
    avatar = offer["properties"]["avatar_id"]
    assert avatar["pattern"] == AVATAR_ID_PATTERN and avatar["maxLength"] == 16
    assert offer["properties"]["sdp"]["maxLength"] == 64_000
    options = _schema(spec, offer["properties"]["options"])
    assert options["additionalProperties"] is False
    resolution = options["properties"]["resolution"]
    assert [s["enum"] for s in resolution["anyOf"] if "enum" in s] == [list(SIZES)], resolution
    say = _body(spec, "/sessions/{session_id}/say")
    assert say["additionalProperties"] is False
    assert say["properties"]["text"]["maxLength"] > 0 and say["properties"]["voice"]["maxLength"] == 64
    assert _param(spec, "/sessions/{session_id}", "get", "session_id")["maxLength"] == 64


def test_the_documented_patterns_are_the_enforced_ones() -> None:
    assert get_args(Resolution) == SIZES
    ids = re.compile(AVATAR_ID_PATTERN)
    for ok in ("default", "0123456789abcdef"):
        assert ids.fullmatch(ok)
    for bad in ("Default", "0123456789ABCDEF", "0123456789abcde", "../etc", "default0"):
        assert not ids.fullmatch(bad)
        assert not ID_PATTERN.fullmatch(bad)


async def test_unknown_body_fields_are_refused_by_name(served) -> None:
    _, http = served
    for path, body in (
        ("/sessions", {"sdp": "v=0", "avatr_id": "default"}),
        (f"/sessions/{SID}/say", {"text": "hi", "speed": 2}),
    ):
        r = await http.post(path, json=body)
        assert r.status_code == 422, (path, r.text)
        detail = r.json()["detail"]
        assert detail["code"] == "invalid_request"
        unknown = next(k for k in body if k not in ("sdp", "text"))
        assert detail["errors"] == [{"loc": ["body", unknown], "msg": "Extra inputs are not permitted"}]
        assert unknown in detail["message"]


async def test_deeply_nested_bodies_are_a_clean_400_on_every_json_route(served) -> None:
    """Every POST route that takes JSON (found in the spec), at 100,000 levels of arrays and of
    objects: 400 bad_request, never a 500 or a RecursionError."""
    _, http = served
    spec = (await http.get("/openapi.json")).json()
    routes = [
        path.replace("{session_id}", SID)
        for path, ops in spec["paths"].items()
        if "application/json" in ops.get("post", {}).get("requestBody", {}).get("content", {})
    ]
    assert "/sessions" in routes and f"/sessions/{SID}/say" in routes
    n = 100_000
    for body in (b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n):
        for path in routes:
            r = await http.post(path, content=body, headers=JSON)
            assert r.status_code == 400, (path, r.text[:200])
            assert r.json()["detail"] == {
                "code": "bad_request",
                "message": "The JSON body is nested too deeply.",
            }
