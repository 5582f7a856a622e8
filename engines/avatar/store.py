"""Avatar bundles on disk: add, list, get, delete, and the default avatar.

Atomic by construction: a bundle is written into a fresh temporary directory inside ``root`` and
renamed into place, so a crash or a refused portrait leaves either a whole bundle or nothing
(temporary leftovers of a killed process are swept at start-up). Ids are the first 16 hex digits
of the SHA-256 of the decoded, upright pixels, so the same picture gives the same id whatever its
file format; every id is checked against ``ID_PATTERN`` before any path is built from it.
Names are free text stored in meta.json only, never used as paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from xactor.engines.avatar.bundle import (
    META_FILE,
    AvatarBundle,
    AvatarMeta,
    FaceBoxMeta,
    HeadPose,
    write_bundle,
)
from xactor.engines.avatar.decode import DEFAULT_MAX_SIDE, DecodedImage, decode_image
from xactor.engines.avatar.errors import AvatarNotFoundError, IncompatibleBundleError, InvalidAvatarIdError
from xactor.engines.avatar.prepare import prepare_face

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
DEFAULT_ALIAS = "default"
DEFAULT_NAME = "astronaut"
DEFAULT_CREDIT = "Eileen Collins, NASA portrait (public domain), shipped by scikit-image as data.astronaut()"
MAX_NAME_CHARS = 64
_TMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
_STALE_SECONDS = 3600.0


def avatar_id(pixels: np.ndarray) -> str:
    """Content id of an upright RGB image [H, W, 3] uint8: 16 hex digits of SHA-256."""
    digest = hashlib.sha256(f"{pixels.shape[0]}x{pixels.shape[1]}:".encode())
    digest.update(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    return digest.hexdigest()[:16]


def check_id(value: str) -> str:
    """``value`` if it is a well-formed id, else :class:`InvalidAvatarIdError` (covers '../etc')."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidAvatarIdError(
            f"{str(value)[:40]!r} is not an avatar id; ids are 16 lowercase hexadecimal characters "
            "(see the list of avatars)."
        )
    return value


def sanitise_name(name: str | None) -> str | None:
    """A display name safe to show anywhere: printable, no path separators, at most 64 characters."""
    if not name:
        return None
    text = unicodedata.normalize("NFKC", name)
    text = re.sub(r"[^\w .,'()\-]", "_", text)  # \w keeps letters of every script
    text = re.sub(r"\s+", " ", text).strip(" ._-")
    return text[:MAX_NAME_CHARS].rstrip(" ._-") or None


def name_from_filename(filename: str | None) -> str | None:
    """The display name an uploaded file suggests: its base name without the extension."""
    if not filename:
        return None
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    return sanitise_name(stem)


class DrawnPortrait(Protocol):
    """A portrait drawn with its exact geometry (``xactor.engines.procedural.avatar.ProceduralPortrait``)."""

    @property
    def seed(self) -> int: ...
    @property
    def source(self) -> np.ndarray: ...  # [H, W, 3] uint8
    @property
    def crops(self) -> dict[int, np.ndarray]: ...
    @property
    def geometry(self) -> dict[str, np.ndarray]: ...
    @property
    def pose(self) -> HeadPose: ...
    @property
    def face_box(self) -> FaceBoxMeta: ...


class AvatarStore:
    """The avatars under ``root`` (one directory per id). Safe to share between threads."""

    def __init__(
        self,
        root: Path,
        *,
        max_image_pixels: int = 40_000_000,
        min_face_px: int = 64,
        max_side: int = DEFAULT_MAX_SIDE,
        with_default: bool = True,
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        self.max_image_pixels = max_image_pixels
        self.min_face_px = min_face_px
        self.max_side = max_side
        self._with_default = with_default
        self._default_id: str | None = None
        self._lock = threading.Lock()
        self._bundles: dict[str, AvatarBundle] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep()

    # --- adding ---------------------------------------------------------------------------------

    def add(self, data: bytes, name: str | None = None, largest: bool = False) -> AvatarBundle:
        """Prepare the portrait in ``data`` (JPEG/PNG/WebP bytes) and store it; see :meth:`add_or_get`."""
        return self.add_or_get(data, name=name, largest=largest)[0]

    def add_or_get(
        self, data: bytes, name: str | None = None, largest: bool = False
    ) -> tuple[AvatarBundle, bool]:
        """(bundle, created): the stored bundle, and False when this picture was already there.

        Raises an :class:`~engines.avatar.errors.AvatarError` subclass for bad input; nothing is
        written in that case.
        """
        decoded = decode_image(data, max_pixels=self.max_image_pixels, max_side=self.max_side)
        return self._add_decoded(decoded, name=name, largest=largest)

    def _add_decoded(
        self,
        decoded: DecodedImage,
        *,
        name: str | None,
        largest: bool,
        is_default: bool = False,
        credit: str | None = None,
    ) -> tuple[AvatarBundle, bool]:
        ident = avatar_id(decoded.pixels)
        existing = self._load(ident)
        if existing is not None:
            return existing, False
        prepared = prepare_face(decoded.pixels, min_face_px=self.min_face_px, largest=largest)
        height, width = decoded.pixels.shape[:2]
        meta = AvatarMeta(
            id=ident,
            name=sanitise_name(name) or f"avatar-{ident[:6]}",
            created=datetime.now(UTC),
            source_format=decoded.format,
            source_width=width,
            source_height=height,
            original_width=decoded.original_size[0],
            original_height=decoded.original_size[1],
            exif_orientation=decoded.orientation,
            faces_detected=prepared.faces_detected,
            face_box=prepared.face_box,
            pose=prepared.pose,
            expression=prepared.expression,
            sizes=sorted(prepared.crops),
            is_default=is_default,
            credit=credit,
        )
        return self._store(meta, decoded.pixels, prepared.crops, prepared.geometry)

    def find_procedural(self, seed: int) -> AvatarBundle | None:
        """The stored avatar drawn from ``seed``, if any (looked up by its seed: drawing it again
        costs seconds)."""
        for stored in self._stored():
            if stored.meta.procedural_seed == seed:
                return stored
        return None

    def add_drawn(self, portrait: DrawnPortrait, name: str | None = None) -> tuple[AvatarBundle, bool]:
        """(bundle, created): a portrait drawn with its exact geometry (no detection needed), kept
        under the seed it was drawn from (``xactor.engines.procedural.avatar.add_procedural``)."""
        ident = avatar_id(portrait.source)
        existing = self._load(ident)
        if existing is not None:
            return existing, False
        height, width = portrait.source.shape[:2]
        meta = AvatarMeta(
            id=ident,
            name=sanitise_name(name) or f"procedural-{portrait.seed}",
            created=datetime.now(UTC),
            source_format="PNG",
            source_width=width,
            source_height=height,
            original_width=width,
            original_height=height,
            faces_detected=1,
            face_box=portrait.face_box,
            pose=portrait.pose,
            expression={},
            sizes=sorted(portrait.crops),
            credit="procedural identity drawn by xactor (engines/procedural)",
            procedural_seed=portrait.seed,
        )
        return self._store(meta, portrait.source, portrait.crops, portrait.geometry)

    def _store(
        self,
        meta: AvatarMeta,
        source: np.ndarray,
        crops: dict[int, np.ndarray],
        geometry: dict[str, np.ndarray],
    ) -> tuple[AvatarBundle, bool]:
        """Write a bundle atomically (temporary folder, then rename) and cache it."""
        ident = meta.id
        tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=self.root))
        try:
            write_bundle(tmp, meta, source, crops, geometry)
            _make_readable(tmp)
            final = self.root / ident
            try:
                os.rename(tmp, final)
            except OSError:
                # Another request stored the same picture first (the target is non-empty): use it.
                winner = self._load(ident)
                if winner is None:
                    raise
                return winner, False
            _fsync_dir(self.root)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        log.info(
            "stored avatar %s (%s) from a %dx%d %s",
            ident, meta.name, meta.source_width, meta.source_height, meta.source_format,
        )  # fmt: skip
        bundle = AvatarBundle(path=self.root / ident, meta=meta)
        with self._lock:
            self._bundles[ident] = bundle
        return bundle, True

    # --- reading --------------------------------------------------------------------------------

    def get(self, avatar_id: str) -> AvatarBundle:
        """The bundle with this id (or ``"default"``); 404-style error when there is none."""
        if avatar_id == DEFAULT_ALIAS:
            return self.ensure_default()
        check_id(avatar_id)
        self._maybe_default()
        bundle = self._load(avatar_id)
        if bundle is None:
            raise AvatarNotFoundError(f"There is no avatar with id {avatar_id}.")
        return bundle

    def _stored(self) -> list[AvatarBundle]:
        """:meth:`list` without preparing the default first."""
        bundles = []
        for entry in sorted(self.root.iterdir()):
            if not (entry.is_dir() and ID_PATTERN.fullmatch(entry.name)):
                continue
            try:
                bundle = self._load(entry.name)
            except IncompatibleBundleError as exc:
                log.warning("%s", exc.message)
                continue
            if bundle is not None:
                bundles.append(bundle)
        return sorted(bundles, key=lambda b: b.meta.created)

    def list(self) -> list[AvatarBundle]:
        """All readable bundles, oldest first; unreadable or other-version ones are skipped (logged)."""
        self._maybe_default()
        return self._stored()

    def delete(self, avatar_id: str) -> str:
        """Remove a bundle at once (renamed away first, then deleted); returns its id."""
        if avatar_id == DEFAULT_ALIAS:
            avatar_id = self.ensure_default().id
        check_id(avatar_id)
        if not self._discard(avatar_id):
            raise AvatarNotFoundError(f"There is no avatar with id {avatar_id}.")
        log.info("deleted avatar %s", avatar_id)
        return avatar_id

    def _discard(self, ident: str) -> bool:
        """Remove bundle ``ident`` at once (renamed away, then deleted); False if there was none."""
        trash = self.root / f"{_TRASH_PREFIX}{uuid.uuid4().hex}"
        try:
            os.rename(self.root / ident, trash)
        except FileNotFoundError:
            return False
        with self._lock:
            self._bundles.pop(ident, None)
        shutil.rmtree(trash, ignore_errors=True)
        return True

    # --- the default avatar ---------------------------------------------------------------------

    @property
    def default_id(self) -> str:
        """Id of the default avatar (prepares it if needed)."""
        return self.ensure_default().id

    def ensure_default(self) -> AvatarBundle:
        """The redistributable default avatar (NASA astronaut portrait), prepared on first use."""
        if self._default_id is not None:
            bundle = self._load(self._default_id)
            if bundle is not None:
                return bundle
        import skimage.data

        pixels = np.ascontiguousarray(skimage.data.astronaut()[..., :3], dtype=np.uint8)
        decoded = DecodedImage(
            pixels=pixels, format="PNG", original_size=(pixels.shape[1], pixels.shape[0]), orientation=1
        )
        try:
            self._load(avatar_id(pixels))
        except IncompatibleBundleError as exc:
            # The default is the project's own: a bundle of an older format is rebuilt, not refused.
            log.warning("%s; rebuilding the default avatar", exc.message)
            self._discard(avatar_id(pixels))
        bundle, created = self._add_decoded(
            decoded, name=DEFAULT_NAME, largest=True, is_default=True, credit=DEFAULT_CREDIT
        )
        if created:
            log.info("prepared the default avatar %s", bundle.id)
        self._default_id = bundle.id
        return bundle

    def _maybe_default(self) -> None:
        """Prepare the default once per store (first list/get), unless disabled."""
        if self._with_default and self._default_id is None:
            self.ensure_default()

    # --- internals ------------------------------------------------------------------------------

    def _load(self, ident: str) -> AvatarBundle | None:
        """Cached bundle for a *validated* id, or None when absent."""
        with self._lock:
            cached = self._bundles.get(ident)
        path = self.root / ident
        if cached is not None and path.is_dir():
            return cached
        if not (path / META_FILE).is_file():
            with self._lock:
                self._bundles.pop(ident, None)
            return None
        bundle = AvatarBundle.load(path)
        with self._lock:
            self._bundles[ident] = bundle
        return bundle

    def _sweep(self) -> None:
        """Remove temporary directories that a killed process left behind (older than an hour)."""
        now = time.time()
        for entry in self.root.iterdir():
            if entry.name.startswith((_TMP_PREFIX, _TRASH_PREFIX)):
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > _STALE_SECONDS:
                        shutil.rmtree(entry, ignore_errors=True)
                        log.info("removed stale %s", entry.name)


def _make_readable(directory: Path) -> None:
    """mkdtemp makes 0700 directories; a bundle is readable by other users like any data file."""
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); harmless where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
