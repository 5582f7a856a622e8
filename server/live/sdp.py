"""Check a peer's WebRTC offer before any peer connection is built, so unusable offers get a clear 400.

One policy for every peer kind (:data:`Role`): a browser session (``POST /sessions``: it sends its
microphone and receives the avatar) and a WHEP viewer (``POST /sessions/{id}/whep``: it receives
video and audio and sends nothing). Both go through :func:`check_offer`; only the direction rule
differs.

aiortc parses some offers it then cannot answer, and fails on them deep inside with
AttributeError, TypeError or StopIteration (a mid missing from the BUNDLE group, two sections with
one mid, a NUL byte in a mid), accepts others and fails only at the DTLS handshake (no
fingerprint), and answers some with what the offer never listed (a codec when the offer's only
payload type has no rtpmap, a live port for a rejected section, an extmap id no RTP header can
carry). Each rule here refuses one such offer up front, with a message that says what to fix;
:func:`check_answer` then checks that the answer stays within the offer.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

from aiortc.rtcdtlstransport import X509_DIGEST_ALGORITHMS
from aiortc.sdp import MediaDescription, SessionDescription, grouplines, parse_attr

__all__ = ["UNANSWERABLE", "OfferError", "Role", "check_answer", "check_offer"]


class OfferError(ValueError):
    """A peer's offer cannot be used (malformed SDP, wrong directions, nothing we can answer with)."""


UNANSWERABLE = "the offer cannot be answered; send it as the browser (or aiortc) made it"
"""What a peer hears when aiortc fails on an offer that passed the checks (the detail is logged)."""

Role = Literal["session", "viewer"]
"""``session``: sends us audio, receives video. ``viewer``: receives video (and audio), sends nothing."""

MAX_MID_CHARS = 32
"""Longest mid accepted: browsers send "0", "1" (older Chrome "audio", "video"); aiortc puts the mid
in an RTP header extension of every packet, which cannot carry 256 bytes or more."""

ONE_BYTE_EXTMAP_IDS = range(1, 15)  # RFC 8285: the one-byte header form; 15 is reserved
TWO_BYTE_EXTMAP_IDS = range(1, 256)  # with a=extmap-allow-mixed (two-byte headers)

SUPPORTED_CODECS: dict[str, frozenset[str]] = {
    "audio": frozenset({"opus", "g722", "pcmu", "pcma"}),
    "video": frozenset({"vp8", "h264"}),
}
"""What aiortc can receive or send per kind (rtx, red and fec alone carry no media)."""

_SENDS = {"session": (None, "sendrecv", "sendonly"), "viewer": ()}  # audio directions we need
_RECEIVES = (None, "sendrecv", "recvonly")

# Any C0/C1 control except CR LF / LF line ends, line separators, and lone surrogates (which the
# JSON answer could not encode).
_FORBIDDEN_CHAR = re.compile(r"[\x00-\x09\x0b-\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]|\r(?!\n)")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+")  # RFC 4566 token: what a mid may be
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+")
_EXTMAP = re.compile(r"(\d{1,9})(?:/\w+)?\s+\S+.*")
_SHOWN = 40


def check_offer(sdp: str, role: Role = "session") -> SessionDescription:
    """Raise :class:`OfferError` unless ``sdp`` is an offer a peer of ``role`` can be answered
    with: it parses, has no control characters, has the directions ``role`` needs, and every media
    section has ICE credentials, a DTLS fingerprint and setup role, a unique mid that the BUNDLE
    group (when there is one) names, a port, a codec we support and extmap ids RTP can carry.
    Returns the parsed offer."""
    _check_characters(sdp)
    desc = _parse(sdp)
    if not desc.media:
        raise OfferError("malformed SDP: no media sections")
    _check_directions(desc, role)
    for i, m in enumerate(desc.media):
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            raise OfferError(
                f"malformed SDP: {_section(i, m)} lacks ICE credentials (a=ice-ufrag, a=ice-pwd)"
            )
        if m.port == 0:
            raise OfferError(
                f"{_section(i, m)} has port 0 (rejected, or bundle-only): this server answers every "
                "section it is offered; leave the section out or give it a port, as browsers do"
            )
    _check_dtls(sdp, desc)
    _check_mids(desc)
    _check_codecs(desc)
    _check_extmaps(sdp, desc)
    return desc


def check_answer(offer: SessionDescription, answer_sdp: str) -> None:
    """Raise :class:`OfferError` if our answer names a payload type or extmap id its offer did not
    list, or answers a section the offer rejected (a guard behind :func:`check_offer`: aiortc
    fills gaps with its own defaults)."""
    answer = SessionDescription.parse(answer_sdp)
    for i, (o, a) in enumerate(zip(offer.media, answer.media, strict=False)):
        if o.port == 0 and a.port != 0:
            raise OfferError(f"{_section(i, o)} was rejected by the offer (port 0)")
        if o.kind not in SUPPORTED_CODECS:
            continue
        extra = [c.payloadType for c in a.rtp.codecs if c.payloadType not in o.fmt]
        if extra:
            raise OfferError(f"{_section(i, o)} lists no codec we support (answered with {extra[:4]})")
        offered_ids = {e.id for e in o.rtp.headerExtensions}
        if any(e.id not in offered_ids for e in a.rtp.headerExtensions):
            raise OfferError(f"{_section(i, o)}: the answer would use an extmap id the offer lacks")


def _parse(sdp: str) -> SessionDescription:
    """aiortc's parse, its failure told as the first line it cannot read (never its exception)."""
    try:
        return SessionDescription.parse(sdp)
    except Exception:  # aiortc raises ValueError/KeyError/AssertionError/StopIteration on bad lines
        pass
    lines = sdp.splitlines()
    good, bad = 0, len(lines)  # the prefix of `good` lines parses, that of `bad` lines does not
    while bad - good > 1:
        mid = (good + bad) // 2
        try:
            SessionDescription.parse("\r\n".join(lines[:mid]) + "\r\n")
            good = mid
        except Exception:
            bad = mid
    raise OfferError(f"malformed SDP: line {bad} cannot be parsed: {_show(lines[bad - 1], 80)}") from None


def _check_characters(sdp: str) -> None:
    """Control characters split or hide values (``a=mid:0\\0`` is not mid 0); lines end in CR LF."""
    bad = _FORBIDDEN_CHAR.search(sdp)
    if bad is not None:
        line = sdp.count("\n", 0, bad.start()) + 1
        raise OfferError(
            f"the SDP contains the control character U+{ord(bad.group()[0]):04X} on line {line}; "
            "only CR LF (or LF) may end lines"
        )


def _check_directions(desc: SessionDescription, role: Role) -> None:
    """A session sends us audio and receives video; a viewer receives video and sends nothing."""
    video = [m for m in desc.media if m.kind == "video" and m.direction in _RECEIVES]
    if role == "session":
        if not any(m.kind == "audio" and m.direction in _SENDS["session"] for m in desc.media):
            raise OfferError("the offer sends no audio: add the microphone track")
    else:
        for i, m in enumerate(desc.media):
            if m.direction == "sendonly":
                raise OfferError(
                    f"{_section(i, m)} is sendonly: a viewer only receives; make its transceivers recvonly"
                )
    if not video:
        raise OfferError("the offer receives no video: add a recvonly video transceiver")


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


def listed_codecs(m: MediaDescription) -> list[str]:
    """Codec names (lower case) of the section's rtpmaps whose payload type its m= line lists."""
    return [c.mimeType.split("/", 1)[1].lower() for c in m.rtp.codecs if c.payloadType in m.fmt]


def _check_codecs(desc: SessionDescription) -> None:
    """Every audio and video section lists (m= line and a=rtpmap) a codec we can send or receive;
    aiortc would otherwise answer with codecs the offer never named."""
    for i, m in enumerate(desc.media):
        supported = SUPPORTED_CODECS.get(m.kind)
        if supported is None:
            continue
        if not supported & set(listed_codecs(m)):
            names = ", ".join(sorted(supported))
            raise OfferError(
                f"{_section(i, m)} lists no codec we support ({names}, each with an a=rtpmap for a "
                "payload type of its m= line)"
            )


def _check_extmaps(sdp: str, desc: SessionDescription) -> None:
    """extmap ids 1-14 (one-byte RTP header extensions), 1-255 with a=extmap-allow-mixed; one URI
    per id in a section. An id outside would be echoed in the answer and could not be sent."""
    session_lines, media_groups = grouplines(sdp)
    mixed_session = bool(_has_attr(session_lines, "extmap-allow-mixed"))
    for i, (m, lines) in enumerate(zip(desc.media, media_groups, strict=True)):
        ids = (
            TWO_BYTE_EXTMAP_IDS
            if mixed_session or _has_attr(lines, "extmap-allow-mixed")
            else ONE_BYTE_EXTMAP_IDS
        )
        uris: dict[int, str] = {}
        for value in _attrs(lines, "extmap"):
            match = _EXTMAP.fullmatch(value)
            if match is None:
                raise OfferError(f"malformed SDP: a=extmap:{_show(value)} in {_section(i, m)}")
            ext_id, uri = int(match.group(1)), value.split()[1]
            if ext_id not in ids:
                raise OfferError(
                    f"the extmap id {ext_id} of {_section(i, m)} is out of range: ids are 1-14, or "
                    "1-255 with a=extmap-allow-mixed"
                )
            if uris.setdefault(ext_id, uri) != uri:
                raise OfferError(f"the extmap id {ext_id} names two extensions in {_section(i, m)}")


def _attrs(lines: list[str], name: str) -> list[str]:
    """Values of the ``a=<name>:`` lines among ``lines``."""
    values = []
    for line in lines:
        if line.startswith("a="):
            attr, value = parse_attr(line)
            if attr == name:
                values.append(value or "")
    return values


def _has_attr(lines: list[str], name: str) -> bool:
    return any(line.startswith("a=") and parse_attr(line)[0] == name for line in lines)


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
