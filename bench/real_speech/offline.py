"""Frames made offline the way ``xactor animate`` makes them: the clip through a motion source
(:func:`xactor.engines.offline.speech_motion.motion_from_audio`, pushed and pulled as live, the tail
released with silence), then every frame through the avatar's renderer (the server's avatar
store and the renderer registry, as the command takes them).

Portraits: ``default`` (the astronaut, photographed with parted lips), ``grace-hopper``
(matplotlib's sample, closed lips) and ``procedural`` (a held-out procedural identity).
Motion sources: ``heuristic``, and ``student`` / ``teacher`` of a weights folder, each run as the
``generator`` source on a folder holding only that checkpoint (so exactly what the server runs).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xactor.engines.motion_gen.weights import STUDENT, TEACHER
from xactor.engines.motion_source.base import MotionSource

if TYPE_CHECKING:
    from xactor.engines.avatar.store import AvatarStore
    from xactor.server.settings import Settings

PORTRAITS = ("default", "grace-hopper", "procedural")
SOURCES = ("heuristic", "student", "teacher", "oracle")  # oracle: bench/real_speech/oracle.py
SIZE = 256
BATCH = 16


def grace_hopper_jpeg() -> bytes:
    """matplotlib's Grace Hopper sample (US Navy photo, public domain) as shipped."""
    import matplotlib

    return (Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").read_bytes()


def _settings(data_dir: Path) -> Settings:
    """The server's settings with its data under ``data_dir`` (bench sits below cli: no cli import)."""
    from xactor.server.settings import get_settings

    return get_settings().model_copy(update={"data_dir": data_dir.expanduser()})


def _store(data_dir: Path) -> AvatarStore:
    from xactor.server.stores import open_avatar_store

    return open_avatar_store(_settings(data_dir))


def portrait_id(name: str, data_dir: Path) -> str:
    """The avatar id of portrait ``name`` in the store under ``data_dir`` (prepared on first use)."""
    from xactor.engines.procedural.avatar import TEST_SEED_BASE, add_procedural

    store = _store(data_dir)
    if name == "default":
        return store.get("default").id
    if name == "grace-hopper":
        return store.add(grace_hopper_jpeg(), name="grace-hopper", largest=True).id
    if name == "procedural":
        return add_procedural(store, TEST_SEED_BASE)[0].id
    raise ValueError(f"unknown portrait {name!r}; known: {', '.join(PORTRAITS)}")


def single_checkpoint(weights_dir: Path, name: str, into: Path) -> Path:
    """A folder holding only checkpoint ``name`` of ``weights_dir`` (links), for the generator
    source, which runs the student whenever one is present."""
    for suffix in (".safetensors", ".json"):
        src = weights_dir / f"{name}{suffix}"
        if not src.is_file():
            raise FileNotFoundError(f"{src} is missing")
        (into / src.name).symlink_to(src.resolve())
    return into


@dataclass
class SourceFactory:
    """Builds a fresh motion source by label; ``weights_dir`` holds student and teacher."""

    weights_dir: Path
    lookahead: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="xactor-eval-real-")
        self.folders: dict[str, Path] = {}
        for label, name in (("student", STUDENT), ("teacher", TEACHER)):
            if (self.weights_dir / f"{name}.safetensors").is_file():
                folder = Path(self._tmp.name) / label
                folder.mkdir()
                self.folders[label] = single_checkpoint(self.weights_dir, name, folder)

    def __call__(self, label: str) -> MotionSource:
        from xactor.engines.motion_source import MotionSourceOptions, create_motion_source

        if label == "heuristic":
            return create_motion_source("heuristic", MotionSourceOptions(self.lookahead, seed=self.seed))
        if label not in self.folders:
            raise ValueError(f"no {label} weights in {self.weights_dir}")
        options = MotionSourceOptions(self.lookahead, weights_dir=self.folders[label], seed=self.seed)
        source = create_motion_source("generator", options)
        if "fallback" in source.describe():
            raise RuntimeError(f"{label}: {source.describe()['fallback']}")
        return source


class PortraitRenderer:
    """The warp renderer of one portrait at :data:`SIZE`, and its still crop."""

    def __init__(self, portrait: str, data_dir: Path) -> None:
        from xactor.engines.render import RendererOptions, create_renderer

        self.avatar_id = portrait_id(portrait, data_dir)
        bundle = _store(data_dir).get(self.avatar_id)
        options = RendererOptions(size=SIZE, backend="auto", weights_dir=_settings(data_dir).weights_dir)
        self.renderer = create_renderer("warp", bundle, options)
        self.still = self.renderer.render(np.zeros((1, 40), np.float32))[0]  # [S, S, 3]

    def frames(self, motion: np.ndarray) -> Iterator[np.ndarray]:
        """Rendered frames [S, S, 3] uint8 of ``motion`` [T, 40], in order."""
        for i in range(0, len(motion), BATCH):
            yield from self.renderer.render(motion[i : i + BATCH])


def clip_motion(source: MotionSource, samples: np.ndarray) -> np.ndarray:
    """Motion [T, 40] of 16 kHz ``samples`` through ``source`` (as ``xactor animate``)."""
    from xactor.engines.offline.speech_motion import motion_from_audio

    motion, _ = motion_from_audio(source, samples)
    return motion
