"""The offer check (server/live/sdp.py): every offer aiortc cannot answer is refused with a clear
message before any session exists, and real browser and aiortc offers pass.

Bad offers are made by mutating a real offer from an aiortc client, the way a buggy client or a
hand-edited SDP would break it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.sdp import SessionDescription

from tests.server.live.conftest import make_app, serving
from xactor.bench.live_client import SignalTrack
from xactor.server.live.sdp import MAX_MID_CHARS, OfferError, check_answer, check_offer

pytestmark = pytest.mark.anyio

_CHROMIUM_FINGERPRINT = (
    "61:5B:45:D8:7C:7A:85:F9:41:20:E4:FD:A0:F5:7B:06:6C:2C:85:4F:57:42:69:63:1B:59:B3:67:E0:8C:C7:DB"
)
CHROMIUM_OFFER = (
    "\r\n".join(
        [
            "v=0",
            "o=- 2023619554393420924 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0 1",
            "a=extmap-allow-mixed",
            "a=msid-semantic: WMS",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=candidate:2019675812 1 udp 2113937151 bf516562-201a-4133-b39d-1a1c656d29aa.local 38029"
            " typ host generation 0 network-cost 999",
            "a=candidate:2131993108 1 udp 2113942271 17f8c2cb-0ada-466d-97a8-e84bb2def7f5.local 43034"
            " typ host generation 0 network-cost 999",
            "a=ice-ufrag:N+cT",
            "a=ice-pwd:ojWAI9MPu7XAhaizDIoXzESp",
            "a=ice-options:trickle",
            f"a=fingerprint:sha-256 {_CHROMIUM_FINGERPRINT}",
            "a=setup:actpass",
            "a=mid:0",
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=sendonly",
            "a=msid:- 9cdae174-0d15-441b-9d40-f907f5e17ba1",
            "a=rtcp-mux",
            "a=rtcp-rsize",
            "a=rtcp-xr:rcvr-rtt=all",
            "a=rtpmap:111 opus/48000/2",
            "a=rtcp-fb:111 transport-cc",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "a=rtpmap:63 red/48000/2",
            "a=fmtp:63 111/111",
            "a=rtpmap:9 G722/8000",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:13 CN/8000",
            "a=rtpmap:110 telephone-event/48000",
            "a=rtpmap:126 telephone-event/8000",
            "a=ssrc:1168194738 cname:3dL+BtQ7A5k/QcEF",
            "a=ssrc:1168194738 msid:- 9cdae174-0d15-441b-9d40-f907f5e17ba1",
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97 108 109",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=candidate:2019675812 1 udp 2113937151 bf516562-201a-4133-b39d-1a1c656d29aa.local 36387"
            " typ host generation 0 network-cost 999",
            "a=candidate:2131993108 1 udp 2113942271 17f8c2cb-0ada-466d-97a8-e84bb2def7f5.local 54728"
            " typ host generation 0 network-cost 999",
            "a=ice-ufrag:N+cT",
            "a=ice-pwd:ojWAI9MPu7XAhaizDIoXzESp",
            "a=ice-options:trickle",
            f"a=fingerprint:sha-256 {_CHROMIUM_FINGERPRINT}",
            "a=setup:actpass",
            "a=mid:1",
            "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
            "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=extmap:13 urn:3gpp:video-orientation",
            "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
            "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
            "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
            "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            "a=recvonly",
            "a=rtcp-mux",
            "a=rtcp-rsize",
            "a=rtcp-xr:rcvr-rtt=all",
            "a=rtpmap:96 VP8/90000",
            "a=rtcp-fb:96 goog-remb",
            "a=rtcp-fb:96 transport-cc",
            "a=rtcp-fb:96 ccm fir",
            "a=rtcp-fb:96 nack",
            "a=rtcp-fb:96 nack pli",
            "a=rtpmap:97 rtx/90000",
            "a=fmtp:97 apt=96",
            "a=rtpmap:108 H264/90000",
            "a=rtcp-fb:108 goog-remb",
            "a=rtcp-fb:108 transport-cc",
            "a=rtcp-fb:108 ccm fir",
            "a=rtcp-fb:108 nack",
            "a=rtcp-fb:108 nack pli",
            "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            "a=rtpmap:109 rtx/90000",
            "a=fmtp:109 apt=108",
        ]
    )
    + "\r\n"
)
"""An offer made by Chromium 156 (sendonly audio, recvonly video, ICE gathered; video codecs cut
to VP8 and one H.264 to keep it short)."""


async def _aiortc_offer(audio: str = "transceiver") -> str:
    """A real aiortc client offer: audio as a bare sendrecv transceiver or a sendonly track, video
    recvonly (what bench/live_client.py and the web client send)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN
    if audio == "transceiver":
        pc.addTransceiver("audio", direction="sendrecv")
    else:
        pc.addTransceiver(SignalTrack(np.zeros(4800, np.float32)), direction="sendonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


@pytest.fixture(params=["transceiver", "track"])
async def offer(request: pytest.FixtureRequest) -> str:
    sdp = await _aiortc_offer(request.param)
    assert "a=group:BUNDLE 0 1\r\n" in sdp and "a=mid:0\r\n" in sdp and "a=mid:1\r\n" in sdp
    return sdp


def _drop(prefix: str) -> Callable[[str], str]:
    return lambda sdp: "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith(prefix))


def _video_section(sdp: str) -> str:
    return sdp[sdp.index("m=video") :]


def _fingerprints_at_session_level(sdp: str) -> str:
    """Firefox's layout: one a=fingerprint before the first m= line, none in the sections."""
    fingerprint = re.search(r"a=fingerprint:sha-256 [^\r\n]+\r\n", sdp)
    assert fingerprint is not None
    without = _drop("a=fingerprint")(sdp)
    head = without.index("m=audio")
    return without[:head] + fingerprint.group() + without[head:]


# (name, mutation of a real offer, part of the message it must get)
BAD: list[tuple[str, Callable[[str], str], str]] = [
    (
        "audio mid outside the BUNDLE group",
        lambda s: s.replace("a=mid:0\r\n", "a=mid:5\r\n"),
        "not in the BUNDLE",
    ),
    ("NUL byte after a=mid:0", lambda s: s.replace("a=mid:0\r\n", "a=mid:0\x00\r\n"), "U+0000"),
    ("video section repeated with its mid", lambda s: s + _video_section(s), "more than one media section"),
    ("no a=fingerprint at all", _drop("a=fingerprint"), "no DTLS fingerprint"),
    (
        "only fingerprints aiortc cannot check",
        lambda s: re.sub(r"a=fingerprint:sha-(256|384|512) ", "a=fingerprint:md5 ", s),
        "no DTLS fingerprint",
    ),
    (
        "fingerprint value that is not hex",
        lambda s: re.sub(r"(a=fingerprint:sha-\d+) \S+", r"\1 not-hex", s),
        "no DTLS fingerprint",
    ),
    ("no a=setup", _drop("a=setup"), "a=setup"),
    ("BUNDLE names a mid no section has", lambda s: s.replace("BUNDLE 0 1", "BUNDLE 0 1 7"), "'7'"),
    ("BUNDLE group lists a mid twice", lambda s: s.replace("BUNDLE 0 1", "BUNDLE 0 1 1"), "twice"),
    ("BUNDLE leaves a section out", lambda s: s.replace("BUNDLE 0 1", "BUNDLE 1"), "not in the BUNDLE"),
    ("empty BUNDLE group", lambda s: s.replace("BUNDLE 0 1", "BUNDLE"), "not in the BUNDLE"),
    (
        "two BUNDLE groups",
        lambda s: s.replace("a=group:BUNDLE 0 1\r\n", "a=group:BUNDLE 0\r\na=group:BUNDLE 1\r\n"),
        "more than one BUNDLE group",
    ),
    ("section without a=mid", _drop("a=mid:1"), "has no a=mid"),
    (
        "mid longer than a token may be",
        lambda s: s.replace("a=mid:1\r\n", f"a=mid:{'v' * (MAX_MID_CHARS + 1)}\r\n"),
        "not a token",
    ),
    ("lone CR inside a line", lambda s: s.replace("a=mid:0\r\n", "a=mid:0\r0\r\n"), "U+000D"),
    ("tab in a value", lambda s: s.replace("a=mid:0\r\n", "a=mid:0\t\r\n"), "U+0009"),
    ("DEL character", lambda s: s.replace("a=setup:actpass", "a=setup:act\x7fpass", 1), "U+007F"),
    ("C1 control (NEL)", lambda s: s.replace("s=-", "s=-\x85", 1), "U+0085"),
    ("Unicode line separator", lambda s: s.replace("s=-", "s=-\u2028", 1), "U+2028"),
    ("lone surrogate", lambda s: s.replace("a=mid:0\r\n", "a=mid:0\ud800\r\n"), "U+D800"),
    ("no ICE credentials", _drop("a=ice-pwd"), "ICE credentials"),
    ("no audio sent to us", lambda s: s.replace("m=audio", "m=text", 1), "sends no audio"),
    ("no video received", lambda s: s.replace("a=recvonly", "a=inactive"), "receives no video"),
    ("unparseable line", lambda s: s.replace("a=setup:actpass", "a=setup:sideways", 1), "malformed SDP"),
    ("no media at all", lambda s: s[: s.index("m=audio")], "no media sections"),
]

# Offers that differ from aiortc's own but are valid and answerable.
GOOD: list[tuple[str, Callable[[str], str]]] = [
    ("as made", lambda s: s),
    ("no BUNDLE group", _drop("a=group:BUNDLE")),
    ("fingerprint at session level only", _fingerprints_at_session_level),
    ("LF line ends", lambda s: s.replace("\r\n", "\n")),
]


@pytest.mark.parametrize(("mutate", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_broken_offers_are_refused_with_a_clear_message(
    offer: str, mutate: Callable[[str], str], expected: str
) -> None:
    bad = mutate(offer)
    assert bad != offer
    with pytest.raises(OfferError) as refused:
        check_offer(bad)
    message = str(refused.value)
    assert expected in message, message
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\ud800]", message), (
        "message echoes a control char"
    )
    assert len(message) < 300


@pytest.mark.parametrize("mutate", [g[1] for g in GOOD], ids=[g[0] for g in GOOD])
async def test_valid_offers_pass(offer: str, mutate: Callable[[str], str]) -> None:
    check_offer(mutate(offer))


def test_a_real_chromium_offer_passes() -> None:
    check_offer(CHROMIUM_OFFER)
    check_offer(
        CHROMIUM_OFFER.replace("a=mid:0", "a=mid:audio")
        .replace("a=mid:1", "a=mid:video")
        .replace("BUNDLE 0 1", "BUNDLE audio video")
    )  # older Chrome named its mids


async def test_the_api_refuses_them_before_any_session_is_built(data_dir) -> None:
    """400 bad_offer for each, with the check's message, and no session, slot or thread left behind."""
    app = make_app(data_dir, max_sessions=2)
    async with serving(app) as http:
        sdp = await _aiortc_offer()
        refused = 0
        for name, mutate, expected in BAD:
            body = json.dumps({"sdp": mutate(sdp)}).encode()  # ASCII JSON: "\ud800" stays escaped
            r = await http.post("/sessions", content=body, headers={"content-type": "application/json"})
            detail = r.json()["detail"]
            if name == "lone surrogate":  # pydantic refuses it as a string already
                assert r.status_code == 422 and detail["code"] == "invalid_request", r.text
                continue
            assert r.status_code == 400, (name, r.text)
            assert detail["code"] == "bad_offer" and expected in detail["message"], (name, detail)
            refused += 1
        assert len(app.state.sessions) == 0 and app.state.sessions._pending == 0
        metrics = (await http.get("/metrics")).text
        assert f'xactor_sessions_rejected_total{{reason="bad_offer"}} {float(refused)}' in metrics


async def test_the_api_answers_the_valid_variants(data_dir) -> None:
    """The check is not stricter than aiortc: each valid variant gets its session (then ended)."""
    app = make_app(data_dir, max_sessions=2)
    async with serving(app) as http:
        sdp = await _aiortc_offer("track")
        for name, mutate in GOOD:
            r = await http.post("/sessions", json={"sdp": mutate(sdp)})
            assert r.status_code == 201, (name, r.text)
            assert (await http.delete(f"/sessions/{r.json()['session_id']}")).status_code == 204
        assert len(app.state.sessions) == 0


# --- hand-written offers: the answer holds only what the offer listed ------------------------------

_FP = _CHROMIUM_FINGERPRINT


def hand_offer(
    *,
    session: str = "",
    audio_dir: str = "sendonly",
    audio: str = "",
    video_port: int = 9,
    video_pts: str = "96",
    video_dir: str = "recvonly",
    video: str = "a=rtpmap:96 VP8/90000",
) -> str:
    """A minimal offer written by hand (what a non-browser client might send): Opus out, VP8 in
    by default; each keyword replaces or adds lines."""
    lines = [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        session,
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:hand",
        "a=ice-pwd:handwrittenhandwritten00",
        f"a=fingerprint:sha-256 {_FP}",
        "a=setup:actpass",
        "a=mid:0",
        f"a={audio_dir}",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        audio,
        f"m=video {video_port} UDP/TLS/RTP/SAVPF {video_pts}",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:hand",
        "a=ice-pwd:handwrittenhandwritten00",
        f"a=fingerprint:sha-256 {_FP}",
        "a=setup:actpass",
        "a=mid:1",
        f"a={video_dir}",
        "a=rtcp-mux",
        video,
    ]
    return "\r\n".join(line for line in lines if line) + "\r\n"


# (name, hand-written offer, part of the message)
HAND_BAD: list[tuple[str, str, str]] = [
    ("video payload type without rtpmap", hand_offer(video=""), "no codec we support"),
    (
        "rtpmap for a payload type the m= line does not list",
        hand_offer(video_pts="96", video="a=rtpmap:97 VP8/90000"),
        "no codec we support",
    ),
    ("only rtx for video", hand_offer(video_pts="97", video="a=rtpmap:97 rtx/90000"), "no codec we support"),
    ("only a codec we lack", hand_offer(video="a=rtpmap:96 AV1/90000"), "no codec we support"),
    (
        "audio without a codec we have",
        hand_offer().replace("opus/48000/2", "speex/8000"),
        "no codec we support",
    ),
    ("rejected video section (port 0)", hand_offer(video_port=0), "port 0"),
    ("extmap id 99999", hand_offer(video="a=rtpmap:96 VP8/90000\r\na=extmap:99999 urn:x"), "out of range"),
    ("extmap id 0", hand_offer(audio="a=extmap:0 urn:ietf:params:rtp-hdrext:sdes:mid"), "out of range"),
    (
        "extmap id 15 without two-byte headers",
        hand_offer(audio="a=extmap:15 urn:ietf:params:rtp-hdrext:sdes:mid"),
        "out of range",
    ),
    (
        "extmap id 256 even with two-byte headers",
        hand_offer(session="a=extmap-allow-mixed", audio="a=extmap:256 urn:ietf:params:rtp-hdrext:sdes:mid"),
        "out of range",
    ),
    (
        "one extmap id for two extensions",
        hand_offer(audio="a=extmap:1 urn:a\r\na=extmap:1 urn:b"),
        "names two extensions",
    ),
]

HAND_GOOD: list[tuple[str, str]] = [
    ("VP8 only", hand_offer()),
    (
        "extmap id 200 with a=extmap-allow-mixed",
        hand_offer(
            session="a=extmap-allow-mixed",
            audio="a=extmap:200 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
            "a=extmap:4 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        ),
    ),
    ("extmap with a direction", hand_offer(audio="a=extmap:3/sendonly urn:ietf:params:rtp-hdrext:sdes:mid")),
]


@pytest.mark.parametrize(("sdp", "expected"), [b[1:] for b in HAND_BAD], ids=[b[0] for b in HAND_BAD])
def test_hand_written_offers_beyond_what_we_can_answer_are_refused(sdp: str, expected: str) -> None:
    for role in ("session", "viewer"):
        offer = sdp.replace("a=sendonly", "a=recvonly") if role == "viewer" else sdp
        with pytest.raises(OfferError, match=expected):
            check_offer(offer, role=role)  # type: ignore[arg-type]


@pytest.mark.parametrize("sdp", [g[1] for g in HAND_GOOD], ids=[g[0] for g in HAND_GOOD])
def test_hand_written_valid_offers_pass(sdp: str) -> None:
    check_offer(sdp)
    check_offer(sdp.replace("a=sendonly", "a=recvonly"), role="viewer")


_INTERNALS = re.compile(r"Error|Exception|StopIteration|NoneType|Traceback|_set_mid|attribute")


async def test_refusals_never_show_internals(offer: str) -> None:
    """The messages name the SDP's lines and rules, never Python's exceptions (the parser fails
    with AssertionError, KeyError or StopIteration on the lines below)."""
    unparseable = [
        offer.replace("a=setup:actpass", "a=setup:sideways", 1),
        re.sub(r"m=video \d+", "m=video nine", offer, count=1),
        offer.replace("a=rtcp-mux", "a=fmtp:77 x=1", 1),  # fmtp of a payload type with no rtpmap
        offer.replace("a=mid:0", "a=extmap:1", 1),
    ]
    messages = []
    for sdp in unparseable + [mutate(offer) for _, mutate, _ in BAD] + [s for _, s, _ in HAND_BAD]:
        with pytest.raises(OfferError) as refused:
            check_offer(sdp)
        messages.append(str(refused.value))
    leaks = [m for m in messages if _INTERNALS.search(m)]
    assert leaks == []
    assert "line" in messages[0] and "a=setup:sideways" in messages[0], messages[0]


def _viewer(sdp: str) -> str:
    return sdp.replace("a=sendrecv", "a=recvonly").replace("a=sendonly", "a=recvonly")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [b[1:] for b in BAD if b[0] != "no audio sent to us"],
    ids=[b[0] for b in BAD if b[0] != "no audio sent to us"],
)
async def test_viewer_offers_get_the_same_checks(
    offer: str, mutate: Callable[[str], str], expected: str
) -> None:
    """One policy: every refusal of a session's offer is a refusal of a viewer's too."""
    viewer = _viewer(offer)
    check_offer(viewer, role="viewer")
    with pytest.raises(OfferError, match=re.escape(expected)):
        check_offer(mutate(viewer), role="viewer")


def test_a_viewer_sends_nothing() -> None:
    viewer = _viewer(CHROMIUM_OFFER)
    check_offer(viewer, role="viewer")
    with pytest.raises(OfferError, match="sendonly: a viewer only receives"):
        check_offer(viewer.replace("a=recvonly", "a=sendonly"), role="viewer")  # both sections
    video_sends = viewer[: viewer.index("m=video")] + viewer[viewer.index("m=video") :].replace(
        "a=recvonly", "a=sendonly"
    )
    with pytest.raises(OfferError, match=r"media section 2 \(video\) is sendonly"):
        check_offer(video_sends, role="viewer")
    with pytest.raises(OfferError, match="receives no video"):
        check_offer(viewer.replace("m=video", "m=text"), role="viewer")
    check_offer(CHROMIUM_OFFER, role="session")
    with pytest.raises(OfferError, match="sends no audio"):
        check_offer(viewer, role="session")  # a viewer's offer cannot start a session


def test_an_answer_beyond_the_offer_is_caught() -> None:
    """The guard behind the checks: a payload type, an extmap id or a live port the offer did
    not give is refused (here the answer is written by hand to have them)."""
    offer = SessionDescription.parse(hand_offer())
    check_answer(offer, hand_offer(audio_dir="recvonly", video_dir="sendonly"))
    for answer, expected in (
        (
            hand_offer(video_pts="96 100", video="a=rtpmap:96 VP8/90000\r\na=rtpmap:100 H264/90000"),
            "no codec",
        ),
        (hand_offer(audio="a=extmap:5 urn:x"), "extmap id"),
    ):
        with pytest.raises(OfferError, match=expected):
            check_answer(offer, answer)
    rejected = SessionDescription.parse(hand_offer(video_port=0))
    with pytest.raises(OfferError, match="port 0"):
        check_answer(rejected, hand_offer())


async def test_the_api_answers_hand_written_offers_with_only_what_they_list(data_dir) -> None:
    """POST /sessions: each bad one is a 400 with its message; each good one is answered with
    payload types and extmap ids from the offer only."""
    app = make_app(data_dir, max_sessions=2)
    async with serving(app) as http:
        for name, sdp, expected in HAND_BAD:
            r = await http.post("/sessions", json={"sdp": sdp})
            assert r.status_code == 400 and expected in r.json()["detail"]["message"], (name, r.text)
        for name, sdp in HAND_GOOD:
            r = await http.post("/sessions", json={"sdp": sdp})
            assert r.status_code == 201, (name, r.text)
            offer, answer = SessionDescription.parse(sdp), SessionDescription.parse(r.json()["sdp"])
            for o, a in zip(offer.media, answer.media, strict=True):
                assert {c.payloadType for c in a.rtp.codecs} <= set(o.fmt), (name, a.kind)
                assert {e.id for e in a.rtp.headerExtensions} <= {e.id for e in o.rtp.headerExtensions}
            assert r.json()["codec"] == "vp8"
            assert (await http.delete(f"/sessions/{r.json()['session_id']}")).status_code == 204
        assert len(app.state.sessions) == 0 and app.state.sessions._pending == 0
