"""Where a call goes: new sessions placed, follow-ups pinned by the owner tag in the session id."""

from __future__ import annotations

from xactor.server.cluster.calls import Route, route_for, session_tag


def test_session_ids_name_their_owner() -> None:
    assert session_tag("abc12345-0123456789abcdef") == "abc12345"
    assert session_tag("0123456789abcdef") is None  # single-process ids carry no tag
    assert session_tag("-0123") is None and session_tag("abc-") is None


def test_new_sessions_are_placed_and_follow_ups_pinned() -> None:
    assert route_for("POST", "/sessions") == Route(place=True)
    assert route_for("POST", "/sessions/") == Route(place=True)
    for method, path in [
        ("GET", "/sessions/r1-00ff"),
        ("DELETE", "/sessions/r1-00ff"),
        ("POST", "/sessions/r1-00ff/clear"),
        ("POST", "/sessions/r1-00ff/whep"),
        ("DELETE", "/sessions/r1-00ff/whep/v1"),
        ("POST", "/sessions/r1-00ff/outputs"),
    ]:
        assert route_for(method, path) == Route(owner="r1"), path


def test_everything_else_goes_to_any_replica() -> None:
    assert route_for("GET", "/avatars") == Route()
    assert route_for("POST", "/avatars") == Route()
    assert route_for("GET", "/sessions/stream") == Route()  # the WebSocket route, not an id
    assert route_for("GET", "/sessions/0123456789abcdef") == Route()  # untagged: any replica answers 404
