"""REST API for avatars: the happy path, and a clear 4xx (never a 500) for every bad input."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests import fixtures_images as fx
from xactor.server.app import create_app
from xactor.server.settings import Settings


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, max_upload_mb=2.0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        # Warmed up: the start-up has written the default avatar, so the store holds only what
        # the tests put there (they count leftovers).
        deadline = time.monotonic() + 60
        while c.get("/ready").status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield c


def _upload(client: TestClient, data: bytes, filename: str = "photo.jpg", **params: Any) -> Any:
    return client.post("/avatars", files={"file": (filename, data, "image/jpeg")}, params=params)


def _cached(client: TestClient) -> list[str]:
    """Avatar ids with a shared renderer in the server's cache."""
    return [e["avatar_id"] for e in client.get("/health").json()["renderer_cache"]["entries"]]


def _root(data_dir: Path) -> Path:
    return data_dir / "avatars"


def test_default_avatar_is_listed_without_upload(client: TestClient) -> None:
    r = client.get("/avatars")
    assert r.status_code == 200
    body = r.json()
    defaults = [a for a in body["avatars"] if a["is_default"]]
    assert len(defaults) == 1 and defaults[0]["name"] == "astronaut"
    assert body["default_id"] == defaults[0]["id"]
    assert client.get("/avatars/default").json()["id"] == body["default_id"]


def test_upload_get_preview_delete(client: TestClient, data_dir: Path) -> None:
    r = _upload(client, fx.grace_hopper_jpeg(), filename="grace_hopper.jpg")
    assert r.status_code == 201, r.text
    avatar = r.json()
    ident = avatar["id"]
    assert r.headers["location"] == f"/avatars/{ident}"
    assert avatar["name"] == "grace_hopper" and avatar["sizes"] == [256, 512]
    assert set(avatar["pose"]) == {"yaw", "pitch", "roll"}
    assert (_root(data_dir) / ident / "meta.json").is_file()

    assert _upload(client, fx.grace_hopper_jpeg()).status_code == 200  # already there
    assert client.get(f"/avatars/{ident}").json() == avatar
    assert ident in [a["id"] for a in client.get("/avatars").json()["avatars"]]

    preview = client.get(avatar["preview_url"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(preview.content)) as png:
        assert png.width == 512
    crop = client.get(f"/avatars/{ident}/crop.png", params={"size": 256})
    with Image.open(io.BytesIO(crop.content)) as png:
        assert png.size == (256, 256)
    assert client.get(f"/avatars/{ident}/preview.png", params={"size": 300}).status_code == 422

    # The upload built its renderer in the background, for its sessions to share ...
    deadline = time.monotonic() + 60
    while ident not in _cached(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ident in _cached(client), "the uploaded avatar's renderer was not prepared"
    # ... and deleting the avatar drops it.
    assert client.delete(f"/avatars/{ident}").status_code == 204
    assert ident not in _cached(client)
    assert client.get(f"/avatars/{ident}").status_code == 404
    assert client.delete(f"/avatars/{ident}").status_code == 404
    assert not (_root(data_dir) / ident).exists()
    assert fx.leftovers(_root(data_dir)) == []


def test_largest_face_by_query_or_form_field(client: TestClient) -> None:
    r = _upload(client, fx.two_faces_png(), filename="pair.png")
    assert r.status_code == 422 and r.json()["detail"]["code"] == "multiple_faces"
    r = _upload(client, fx.two_faces_png(), largest="true")
    assert r.status_code == 201 and r.json()["faces_detected"] == 2
    client.delete(f"/avatars/{r.json()['id']}")
    r = client.post(
        "/avatars", files={"file": ("pair.png", fx.two_faces_png(), "image/png")}, data={"largest": "true"}
    )
    assert r.status_code == 201
    client.delete(f"/avatars/{r.json()['id']}")


def test_webp_and_exif_uploads(client: TestClient) -> None:
    r = _upload(client, fx.webp_portrait(), filename="astro.webp")
    assert r.status_code in (200, 201) and r.json()["source_width"] == 512
    r = _upload(client, fx.sideways_exif_jpeg(), filename="sideways.jpg")
    assert r.status_code == 201
    assert (r.json()["source_width"], r.json()["source_height"]) == (512, 600)
    client.delete(f"/avatars/{r.json()['id']}")


BAD = [
    ("no-face", fx.no_face_jpeg, 422, "no_face"),
    ("flat-colour", fx.flat_png, 422, "no_face"),
    ("two-faces", fx.two_faces_png, 422, "multiple_faces"),
    ("face-too-small", fx.small_face_png, 422, "face_too_small"),
    ("truncated-jpeg", fx.truncated_jpeg, 422, "corrupt_image"),
    ("text-named-jpg", fx.text_as_jpg, 415, "unsupported_image"),
    ("decompression-bomb", fx.png_bomb, 413, "image_too_large"),
    ("over-upload-limit", lambda: b"\xff\xd8\xff" + bytes(3 * 2**20), 413, "upload_too_large"),
]


@pytest.mark.parametrize(("make", "status", "code"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_uploads_get_a_clear_4xx(
    client: TestClient, data_dir: Path, make: Any, status: int, code: str
) -> None:
    before = sorted(p.name for p in _root(data_dir).iterdir())
    r = _upload(client, make())
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail["code"] == code and len(detail["message"]) > 30
    assert sorted(p.name for p in _root(data_dir).iterdir()) == before  # nothing written, nothing left


def test_requests_that_are_not_uploads(client: TestClient) -> None:
    raw = client.post("/avatars", content=fx.grace_hopper_jpeg(), headers={"content-type": "image/jpeg"})
    assert raw.status_code == 422 and raw.json()["detail"]["code"] == "bad_upload"
    wrong_field = client.post("/avatars", files={"photo": ("a.jpg", fx.grace_hopper_jpeg(), "image/jpeg")})
    assert wrong_field.status_code == 422 and "'file'" in wrong_field.json()["detail"]["message"]
    broken = client.post(
        "/avatars", content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert 400 <= broken.status_code < 500


def test_declared_oversize_is_refused_before_reading(client: TestClient) -> None:
    r = client.post(
        "/avatars",
        content=b"x" * 100,
        headers={"content-type": "multipart/form-data; boundary=x", "content-length": str(50 * 2**20)},
    )
    assert r.status_code == 413 and r.json()["detail"]["code"] == "upload_too_large"


def test_streamed_oversize_upload_stops_early(tmp_path: Path) -> None:
    """A chunked upload without Content-Length is cut off soon after the limit, not read to the end.

    On a data dir of its own: the module's is the live ``client``'s, whose start-up may be writing
    the default avatar (a temporary folder, then a rename) while this test counts leftovers."""
    data_dir = tmp_path
    app = create_app(Settings(data_dir=data_dir, max_upload_mb=1.0))
    chunk, total_chunks, sent = 256 * 1024, 400, 0  # 100 MB on offer
    boundary = b"XyZ"
    head = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        body = head if sent == 1 else b"\0" * chunk
        return {"type": "http.request", "body": body, "more_body": sent < total_chunks}

    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/avatars",
        "raw_path": b"/avatars",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"multipart/form-data; boundary=" + boundary)],
        "client": ("test", 1),
        "server": ("test", 80),
        "app": app,
    }
    asyncio.run(app(scope, receive, send))
    assert messages[0]["status"] == 413
    assert sent * chunk < 2 * 2**20  # stopped after ~1 MB of 100 MB
    assert fx.leftovers(_root(data_dir)) == []


@pytest.mark.parametrize(
    "path", ["/avatars/..%2Fetc", "/avatars/%2E%2E", "/avatars/..%2F..%2Fx", "/avatars/ABCDEF0123456789"]
)
def test_path_traversal_ids(client: TestClient, data_dir: Path, path: str) -> None:
    sentinel = data_dir / "sentinel.txt"
    sentinel.write_text("keep")
    for method in ("GET", "DELETE"):
        r = client.request(method, path)
        assert r.status_code in (404, 422), (method, path, r.status_code)
    assert sentinel.read_text() == "keep"
    r = client.get("/avatars/%2E%2E")
    assert r.status_code == 422 and r.json()["detail"]["code"] == "invalid_avatar_id"


def test_traversal_in_names_stays_a_name(client: TestClient, data_dir: Path) -> None:
    r = client.post("/avatars", files={"file": ("../../evil.jpg", fx.grace_hopper_jpeg(), "image/jpeg")})
    assert r.status_code == 201 and r.json()["name"] == "evil"
    ident = r.json()["id"]
    client.delete(f"/avatars/{ident}")
    r = _upload(client, fx.grace_hopper_jpeg(), name="../../x")
    assert r.status_code == 201 and r.json()["name"] == "x"
    client.delete(f"/avatars/{r.json()['id']}")
    assert sorted(p.name for p in data_dir.iterdir()) in (["avatars"], ["avatars", "sentinel.txt"])


def test_openapi_documents_the_upload(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/avatars"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"201", "413", "415", "422"} <= set(post["responses"])
