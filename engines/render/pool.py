"""Renderers shared by sessions: built once per (avatar, size, renderer, backend), bounded by memory.

Building a renderer is the expensive per-avatar step (about a second for the warp renderer on
2 CPU cores); rendering a frame is milliseconds. The pool builds each key once — concurrent
requests for a key being built wait for that build instead of starting another — keeps the
renderers in least-recently-used order under a memory limit, and forgets an avatar's renderers
when the avatar is deleted. An evicted renderer stays alive for the sessions still holding it;
the pool only stops handing it out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xactor.engines.render.base import Renderer, RendererOptions, create_renderer, resolve_backend

if TYPE_CHECKING:
    from xactor.engines.avatar.bundle import AvatarBundle

log = logging.getLogger(__name__)

Builder = Callable[[str, "AvatarBundle", RendererOptions], Renderer]


@dataclass(frozen=True)
class PoolKey:
    avatar_id: str
    size: int
    renderer: str
    backend: str  # concrete (never "auto")
    weights_dir: Path | None
    threads: int


class RendererPool:
    """LRU of built renderers under ``max_bytes``; thread-safe; ``get`` blocks while building."""

    def __init__(self, max_bytes: int, builder: Builder = create_renderer) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._builder = builder
        self._lock = threading.Lock()
        self._ready: OrderedDict[PoolKey, Renderer] = OrderedDict()
        self._building: dict[PoolKey, Future[Renderer]] = {}
        self.hits = 0
        self.builds = 0
        self.evictions = 0
        self.build_seconds: list[float] = []

    def key(self, name: str, bundle: AvatarBundle, options: RendererOptions) -> PoolKey:
        backend = resolve_backend(name, options.backend)
        return PoolKey(bundle.id, options.size, name, backend, options.weights_dir, options.threads)

    def get(self, name: str, bundle: AvatarBundle, options: RendererOptions) -> Renderer:
        """The shared renderer for this avatar, size, renderer and backend, built (and warmed) on
        first use. Raises whatever the build raises (every waiter sees the same error)."""
        key = self.key(name, bundle, options)
        with self._lock:
            renderer = self._hit(key)
            if renderer is not None:
                return renderer
            future = self._building.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._building[key] = future
        if not owner:
            return future.result()
        try:
            start = time.perf_counter()
            renderer = self._builder(name, bundle, replace(options, backend=key.backend))
            renderer.warm_up()
            took = time.perf_counter() - start
        except BaseException as exc:
            with self._lock:
                self._building.pop(key, None)
            future.set_exception(exc)
            raise
        with self._lock:
            self._building.pop(key, None)
            self._ready[key] = renderer
            self.builds += 1
            self.build_seconds.append(took)
            self._evict(keep=key)
        log.info(
            "renderer %s for avatar %s at %d px (%s) built in %.2f s, %.1f MB",
            name,
            bundle.id,
            key.size,
            key.backend,
            took,
            renderer.nbytes / 1e6,
        )
        future.set_result(renderer)
        return renderer

    def peek(self, name: str, bundle: AvatarBundle, options: RendererOptions) -> Renderer | None:
        """The renderer if it is built, without building it (a hit counts as a use for the LRU)."""
        with self._lock:
            return self._hit(self.key(name, bundle, options))

    def _hit(self, key: PoolKey) -> Renderer | None:
        """The built renderer of ``key``, marked most recently used; lock held."""
        renderer = self._ready.get(key)
        if renderer is not None:
            self._ready.move_to_end(key)
            self.hits += 1
        return renderer

    def _evict(self, keep: PoolKey) -> None:
        """Drop least recently used renderers until under the limit (never ``keep``); lock held."""
        while self.nbytes > self.max_bytes and len(self._ready) > 1:
            oldest = next(iter(self._ready))
            if oldest == keep:
                self._ready.move_to_end(oldest)
                oldest = next(iter(self._ready))
                if oldest == keep:
                    return
            self._ready.pop(oldest)
            self.evictions += 1
            log.info("renderer cache over %.0f MB: evicted %s", self.max_bytes / 1e6, oldest)

    def drop_avatar(self, avatar_id: str) -> int:
        """Forget every renderer of ``avatar_id`` (the avatar was deleted); returns how many."""
        with self._lock:
            keys = [k for k in self._ready if k.avatar_id == avatar_id]
            for k in keys:
                del self._ready[k]
        return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._ready.clear()

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in list(self._ready.values()))

    def __len__(self) -> int:
        return len(self._ready)

    def stats(self) -> dict[str, Any]:
        """For /health and the churn benchmark."""
        with self._lock:
            entries = [
                {"avatar_id": k.avatar_id, "size": k.size, "renderer": k.renderer, "backend": k.backend}
                for k in self._ready
            ]
        return {
            "entries": entries,
            "bytes": self.nbytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "builds": self.builds,
            "evictions": self.evictions,
        }
