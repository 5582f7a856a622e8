"""No peer connection in the repository is built without a configuration.

aiortc's ``RTCPeerConnection()`` with no configuration gathers candidates from a public STUN
server (stun.l.google.com), so a test or a benchmark would quietly reach the internet. Every
connection must say which ICE servers it uses (``RTCConfiguration(iceServers=[])`` for loopback).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__"}
TOP_SKIP = {"data", "out"}  # run-time data and export output at the repository root
JS_BARE = re.compile(r"new\s+RTCPeerConnection\s*\(\s*\)")


def _source_files(suffix: str) -> list[Path]:
    """Files of the repository with ``suffix``, outside virtualenvs, caches and build output."""
    found = []
    for path in ROOT.rglob(f"*{suffix}"):
        parts = path.relative_to(ROOT).parts[:-1]
        if parts and parts[0] in TOP_SKIP:
            continue
        if any(p in SKIP_DIRS or p.startswith(".") or p.endswith(".egg-info") for p in parts):
            continue
        found.append(path)
    return found


def bare_peer_connections(source: str) -> list[int]:
    """Line numbers of ``RTCPeerConnection(...)`` calls given no configuration."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = getattr(func, "id", None) or getattr(func, "attr", None)  # f(...) or module.f(...)
        if name != "RTCPeerConnection":
            continue
        if not node.args and not any(k.arg in ("configuration", None) for k in node.keywords):
            lines.append(node.lineno)
    return lines


def test_the_check_finds_a_bare_peer_connection() -> None:
    source = (
        "from aiortc import RTCConfiguration, RTCPeerConnection\n"
        "import aiortc\n"
        "a = RTCPeerConnection()\n"
        "b = aiortc.RTCPeerConnection()\n"
        "c = RTCPeerConnection(RTCConfiguration(iceServers=[]))\n"
        "d = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))\n"
        "e = RTCPeerConnection(**kwargs)\n"
    )
    assert bare_peer_connections(source) == [3, 4]
    assert JS_BARE.search("const pc = new RTCPeerConnection();")
    assert not JS_BARE.search("new RTCPeerConnection({ iceServers: [] })")


def test_every_peer_connection_has_a_configuration() -> None:
    py_files = _source_files(".py")
    assert ROOT / "bench" / "live_client.py" in py_files  # the walk sees the repository
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in py_files
        if "RTCPeerConnection" in (text := path.read_text(encoding="utf-8"))
        for line in bare_peer_connections(text)
    ]
    offenders += [
        str(path.relative_to(ROOT))
        for path in _source_files(".js")
        if JS_BARE.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"RTCPeerConnection built without a configuration (public STUN): {offenders}"
