"""Check a client's WebRTC offer before any session is built, so unusable offers get a clear 400.

aiortc parses some offers it then cannot answer, and fails on them deep inside with
AttributeError or TypeError (a mid missing from the BUNDLE group, two sections with one mid, a NUL
byte in a mid), or accepts them and fails only at the DTLS handshake (no fingerprint). Each rule
here refuses one such offer up front, with a message that says what to fix.
"""

from __future__ import annotations

import re
from collections import Counter

from aiortc.rtcdtlstransport import X509_DIGEST_ALGORITHMS
from aiortc.sdp import MediaDescription, SessionDescription, grouplines, parse_attr

from server.live.session import OfferError

__all__ = ["OfferError", "check_offer"]

MAX_MID_CHARS = 32
"""Longest mid accepted: browsers send "0", "1" (older Chrome "audio", "video"); aiortc puts the mid
in an RTP header extension of every packet, which cannot carry 256 bytes or more."""

# Any C0/C1 control except CR LF / LF line ends, line separators, and lone surrogates (which the
# JSON answer could not encode).
_FORBIDDEN_CHAR = re.compile(r"[\x00-\x09\x0b-\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]|\r(?!\n)")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+")  # RFC 4566 token: what a mid may be
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+")
_SHOWN = 40


def check_offer(sdp: str) -> None:
    """Raise :class:`OfferError` unless ``sdp`` is an offer we can answer: it parses, has no
    control characters, sends us audio, receives video, and every media section has ICE
    credentials, a DTLS fingerprint and setup role, and a unique mid that the BUNDLE group (when
    there is one) names."""
    _check_characters(sdp)
    try:
        desc = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises ValueError/KeyError/AssertionError/... on bad lines
        raise OfferError(f"malformed SDP ({type(exc).__name__}: {_show(exc, 100)})") from exc
    if not desc.media:
        raise OfferError("malformed SDP: no media sections")
    audio = [m for m in desc.media if m.kind == "audio" and m.direction in (None, "sendrecv", "sendonly")]
    video = [m for m in desc.media if m.kind == "video" and m.direction in (None, "sendrecv", "recvonly")]
    if not audio:
        raise OfferError("the offer sends no audio: add the microphone track")
    if not video:
        raise OfferError("the offer receives no video: add a recvonly video transceiver")
    for i, m in enumerate(desc.media):
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            raise OfferError(
                f"malformed SDP: {_section(i, m)} lacks ICE credentials (a=ice-ufrag, a=ice-pwd)"
            )
    _check_dtls(sdp, desc)
    _check_mids(desc)


def _check_characters(sdp: str) -> None:
    """Control characters split or hide values (``a=mid:0\\0`` is not mid 0); lines end in CR LF."""
    bad = _FORBIDDEN_CHAR.search(sdp)
    if bad is not None:
        line = sdp.count("\n", 0, bad.start()) + 1
        raise OfferError(
            f"the SDP contains the control character U+{ord(bad.group()[0]):04X} on line {line}; "
            "only CR LF (or LF) may end lines"
        )


def _check_dtls(sdp: str, desc: SessionDescription) -> None:
    """Every section needs a fingerprint aiortc can verify (its own or the session's) and a setup
    role; without them the offer is answered but DTLS, hence all media, fails later."""
    session_lines, media_groups = grouplines(sdp)
    session_fps = _attrs(session_lines, "fingerprint")
    session_setup = bool(_attrs(session_lines, "setup"))
    for i, (m, lines) in enumerate(zip(desc.media, media_groups, strict=True)):
        fingerprints = session_fps + _attrs(lines, "fingerprint")
        usable = [f for f in fingerprints if _usable_fingerprint(f)]
        if not usable:
            known = ", ".join(X509_DIGEST_ALGORITHMS)
            raise OfferError(
                f"no DTLS fingerprint: {_section(i, m)} has no a=fingerprint ({known}) and the session "
                "level has none; send the offer as the browser made it"
            )
        if not (session_setup or _attrs(lines, "setup")):
            raise OfferError(f"malformed SDP: {_section(i, m)} has no a=setup (DTLS role)")


def _check_mids(desc: SessionDescription) -> None:
    """One mid per section, unique, a short token; the BUNDLE group names exactly those mids
    (aiortc finds transceivers and the shared transport by mid)."""
    mids: list[str] = []
    for i, m in enumerate(desc.media):
        mid = m.rtp.muxId
        if not mid:
            raise OfferError(f"malformed SDP: {_section(i, m)} has no a=mid")
        if len(mid) > MAX_MID_CHARS or not _TOKEN.fullmatch(mid):
            raise OfferError(
                f"malformed SDP: the mid {_show(mid)} of {_section(i, m)} is not a token of at most "
                f"{MAX_MID_CHARS} characters"
            )
        mids.append(mid)
    repeated = [mid for mid, n in Counter(mids).items() if n > 1]
    if repeated:
        raise OfferError(f"malformed SDP: the mid {_show(repeated[0])} names more than one media section")
    bundles = [g for g in desc.group if g.semantic == "BUNDLE"]
    if not bundles:
        return
    if len(bundles) > 1:
        raise OfferError("the offer has more than one BUNDLE group; bundle every media section in one group")
    tags = [str(t) for t in bundles[0].items]
    for i, (mid, m) in enumerate(zip(mids, desc.media, strict=True)):
        if mid not in tags:
            raise OfferError(
                f"malformed SDP: the mid {_show(mid)} of {_section(i, m)} is not in the BUNDLE group"
            )
    for tag in tags:
        if tag not in mids:
            raise OfferError(
                f"malformed SDP: the BUNDLE group names the mid {_show(tag)}, which no media section has"
            )
    if len(set(tags)) != len(tags):
        raise OfferError("malformed SDP: the BUNDLE group names a mid twice")


def _attrs(lines: list[str], name: str) -> list[str]:
    """Values of the ``a=<name>:`` lines among ``lines``."""
    values = []
    for line in lines:
        if line.startswith("a="):
            attr, value = parse_attr(line)
            if attr == name:
                values.append(value or "")
    return values


def _usable_fingerprint(value: str) -> bool:
    parts = value.split()
    return (
        len(parts) == 2
        and parts[0].lower() in X509_DIGEST_ALGORITHMS
        and bool(_FINGERPRINT.fullmatch(parts[1]))
    )


def _section(index: int, m: MediaDescription) -> str:
    return f"media section {index + 1} ({m.kind[:_SHOWN]})"


def _show(value: object, limit: int = _SHOWN) -> str:
    """Client text quoted for a message: repr (escapes anything odd), cut to a readable length."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
