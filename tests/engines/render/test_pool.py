"""RendererPool with a counting builder: one build per key, shared waits, failures, LRU by bytes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from xactor.engines.render.base import RENDERERS, Renderer, RendererOptions, RendererSpec, register_renderer
from xactor.engines.render.pool import RendererPool

FAST = "test-pool-fast"  # runs on onnxruntime (first) or torch
PLAIN = "test-pool-plain"  # plain numpy: any backend


class FakeRenderer(Renderer):
    def __init__(self, name: str, avatar_id: str, options: RendererOptions, nbytes: int) -> None:
        self.name = name
        self.avatar_id = avatar_id
        self.options = options
        self._nbytes = nbytes
        self.renders = 0

    @property
    def size(self) -> int:
        return self.options.size

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def render(self, motion: np.ndarray) -> np.ndarray:
        self.renders += 1
        return np.zeros((np.atleast_2d(motion).shape[0], 4, 4, 3), np.uint8)


class CountingBuilder:
    """The pool's builder: counts calls per key, can be made slow (gated), can fail chosen calls."""

    def __init__(self, nbytes: int = 100) -> None:
        self.nbytes = nbytes
        self.calls: list[tuple[str, str, RendererOptions]] = []
        self.fail_calls: set[int] = set()
        self.gate: threading.Event | None = None  # set: builds wait for it
        self.entered = threading.Event()
        self.sizes: dict[str, int] = {}  # avatar id -> nbytes override
        self._lock = threading.Lock()

    def __call__(self, name: str, bundle: Any, options: RendererOptions) -> Renderer:
        with self._lock:
            self.calls.append((name, bundle.id, options))
            n = len(self.calls)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if n in self.fail_calls:
            raise RuntimeError(f"build {n} failed")
        return FakeRenderer(name, bundle.id, options, self.sizes.get(bundle.id, self.nbytes))


def avatar(avatar_id: str) -> Any:
    return SimpleNamespace(id=avatar_id)  # the pool only reads .id; the builder gets it back


def opts(size: int = 256, backend: str = "auto", weights_dir: Path | None = None) -> RendererOptions:
    return RendererOptions(size, backend, weights_dir)


@pytest.fixture(autouse=True)
def renderers() -> Iterator[None]:
    def unused(bundle: Any, options: RendererOptions) -> Renderer:
        raise AssertionError("the pool must use its own builder")

    register_renderer(RendererSpec(FAST, "test", ("onnxruntime", "torch"), unused))
    register_renderer(RendererSpec(PLAIN, "test", (), unused))
    try:
        yield
    finally:
        RENDERERS.unregister(FAST)
        RENDERERS.unregister(PLAIN)


def run_threads(n: int, target: Any) -> list[Any]:
    """Call ``target()`` from ``n`` threads started together; results (or exceptions) in order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
        assert not t.is_alive()
    return results


def wait_for_waiters(pool: RendererPool, builder: CountingBuilder) -> None:
    """Let the gated build start and the other threads reach the pool (they then wait on it)."""
    assert builder.entered.wait(10)
    time.sleep(0.2)


def test_built_once_per_key_and_warmed_up() -> None:
    builder = CountingBuilder()
    pool = RendererPool(max_bytes=10_000, builder=builder)
    first = pool.get(FAST, avatar("a"), opts())
    again = pool.get(FAST, avatar("a"), opts())
    assert again is first and isinstance(first, FakeRenderer)
    assert len(builder.calls) == 1 and pool.builds == 1 and pool.hits == 1
    assert first.renders == 1  # warm_up rendered once, before anyone got it
    assert len(pool.build_seconds) == 1 and pool.build_seconds[0] >= 0
    assert len(pool) == 1 and pool.nbytes == 100
    assert pool.stats() == {
        "entries": [{"avatar_id": "a", "size": 256, "renderer": FAST, "backend": "onnxruntime"}],
        "bytes": 100,
        "max_bytes": 10_000,
        "hits": 1,
        "builds": 1,
        "evictions": 0,
    }


def test_concurrent_gets_share_one_build() -> None:
    builder = CountingBuilder()
    builder.gate = threading.Event()
    pool = RendererPool(max_bytes=10_000, builder=builder)
    results: list[Any] = []
    runner = threading.Thread(
        target=lambda: results.extend(run_threads(8, lambda: pool.get(FAST, avatar("a"), opts())))
    )
    runner.start()
    wait_for_waiters(pool, builder)
    assert len(builder.calls) == 1 and len(pool) == 0  # still building: nobody started another
    builder.gate.set()
    runner.join(20)
    assert len(results) == 8 and all(isinstance(r, FakeRenderer) for r in results)
    assert all(r is results[0] for r in results)
    assert len(builder.calls) == 1 and pool.builds == 1


def test_failed_build_raises_for_every_waiter_and_is_retried() -> None:
    builder = CountingBuilder()
    builder.gate = threading.Event()
    builder.fail_calls = {1}
    pool = RendererPool(max_bytes=10_000, builder=builder)
    results: list[Any] = []
    runner = threading.Thread(
        target=lambda: results.extend(run_threads(6, lambda: pool.get(FAST, avatar("a"), opts())))
    )
    runner.start()
    wait_for_waiters(pool, builder)
    builder.gate.set()
    runner.join(20)
    assert len(results) == 6 and all(isinstance(r, RuntimeError) for r in results), results
    assert all(str(r) == "build 1 failed" for r in results)
    assert len(builder.calls) == 1 and pool.builds == 0 and len(pool) == 0
    assert pool.peek(FAST, avatar("a"), opts()) is None
    renderer = pool.get(FAST, avatar("a"), opts())  # the failure is not cached: a new build
    assert isinstance(renderer, FakeRenderer) and len(builder.calls) == 2 and pool.builds == 1
    assert pool.get(FAST, avatar("a"), opts()) is renderer


def test_failed_warm_up_fails_the_build() -> None:
    class BrokenWarmUp(FakeRenderer):
        def warm_up(self) -> None:
            raise MemoryError("no room")

    pool = RendererPool(
        max_bytes=10_000, builder=lambda name, bundle, o: BrokenWarmUp(name, bundle.id, o, 10)
    )
    with pytest.raises(MemoryError):
        pool.get(FAST, avatar("a"), opts())
    assert len(pool) == 0 and pool.builds == 0


def test_lru_eviction_by_bytes_keeps_the_newest() -> None:
    builder = CountingBuilder(nbytes=100)
    pool = RendererPool(max_bytes=250, builder=builder)
    a = pool.get(FAST, avatar("a"), opts())
    b = pool.get(FAST, avatar("b"), opts())
    assert pool.get(FAST, avatar("a"), opts()) is a  # a is now the most recently used
    c = pool.get(FAST, avatar("c"), opts())  # 300 bytes > 250: the least recently used (b) goes
    assert pool.evictions == 1 and len(pool) == 2 and pool.nbytes == 200
    assert pool.peek(FAST, avatar("b"), opts()) is None
    assert pool.peek(FAST, avatar("a"), opts()) is a and pool.peek(FAST, avatar("c"), opts()) is c
    assert b.render(np.zeros(40, np.float32)).shape == (1, 4, 4, 3)  # holders keep using it
    assert pool.get(FAST, avatar("b"), opts()) is not b and len(builder.calls) == 4  # rebuilt
    assert pool.peek(FAST, avatar("a"), opts()) is None  # a was then the oldest


def test_entry_just_built_is_never_evicted() -> None:
    builder = CountingBuilder(nbytes=100)
    builder.sizes["huge"] = 1_000
    pool = RendererPool(max_bytes=250, builder=builder)
    pool.get(FAST, avatar("a"), opts())
    pool.get(FAST, avatar("b"), opts())
    huge = pool.get(FAST, avatar("huge"), opts())  # alone it is over the limit: it stays, others go
    assert pool.peek(FAST, avatar("huge"), opts()) is huge
    assert len(pool) == 1 and pool.nbytes == 1_000 and pool.evictions == 2
    small = pool.get(FAST, avatar("c"), opts())  # the next build evicts the big one instead
    assert pool.peek(FAST, avatar("huge"), opts()) is None and pool.peek(FAST, avatar("c"), opts()) is small


def test_drop_avatar_removes_only_that_avatar() -> None:
    pool = RendererPool(max_bytes=10_000, builder=CountingBuilder())
    for avatar_id in ("a", "b"):
        for size in (256, 512):
            pool.get(FAST, avatar(avatar_id), opts(size))
    pool.get(PLAIN, avatar("a"), opts())
    assert len(pool) == 5
    assert pool.drop_avatar("a") == 3
    assert len(pool) == 2 and pool.nbytes == 200
    assert all(pool.peek(FAST, avatar("a"), opts(size)) is None for size in (256, 512))
    assert all(pool.peek(FAST, avatar("b"), opts(size)) is not None for size in (256, 512))
    assert pool.drop_avatar("a") == 0 and pool.drop_avatar("nobody") == 0
    pool.clear()
    assert len(pool) == 0 and pool.nbytes == 0


def test_peek_never_builds() -> None:
    builder = CountingBuilder()
    pool = RendererPool(max_bytes=10_000, builder=builder)
    assert pool.peek(FAST, avatar("a"), opts()) is None
    assert builder.calls == [] and len(pool) == 0 and pool.builds == 0
    built = pool.get(FAST, avatar("a"), opts())
    assert pool.peek(FAST, avatar("a"), opts()) is built and pool.peek(FAST, avatar("a"), opts(512)) is None
    assert len(builder.calls) == 1


def test_renderer_handed_out_by_peek_counts_as_recently_used() -> None:
    pool = RendererPool(max_bytes=250, builder=CountingBuilder(nbytes=100))
    a = pool.get(FAST, avatar("a"), opts())
    pool.get(FAST, avatar("b"), opts())
    assert pool.peek(FAST, avatar("a"), opts()) is a  # a new session on avatar a
    pool.get(FAST, avatar("c"), opts())  # over the limit: the least recently used must go
    assert pool.peek(FAST, avatar("a"), opts()) is a
    assert pool.peek(FAST, avatar("b"), opts()) is None


def test_keys_differ_by_size_renderer_backend_and_weights() -> None:
    builder = CountingBuilder()
    pool = RendererPool(max_bytes=10_000, builder=builder)
    a = avatar("a")
    variants = [
        (FAST, opts(256, "torch")),
        (FAST, opts(512, "torch")),
        (FAST, opts(256, "onnxruntime")),
        (PLAIN, opts(256, "torch")),
        (FAST, opts(256, "torch", Path("/weights/v2"))),
    ]
    built = [pool.get(name, a, o) for name, o in variants]
    assert len({id(r) for r in built}) == len(variants) and pool.builds == len(variants)
    assert [pool.get(name, a, o) for name, o in variants] == built  # each one found again
    assert pool.builds == len(variants) and pool.hits == len(variants)


def test_auto_backend_resolves_to_the_renderers_first() -> None:
    builder = CountingBuilder()
    pool = RendererPool(max_bytes=10_000, builder=builder)
    auto = pool.get(FAST, avatar("a"), opts(backend="auto"))
    assert builder.calls[0][2].backend == "onnxruntime"  # the builder gets the concrete backend
    assert pool.get(FAST, avatar("a"), opts(backend="onnxruntime")) is auto
    assert pool.key(FAST, avatar("a"), opts(backend="auto")).backend == "onnxruntime"
    assert pool.get(FAST, avatar("a"), opts(backend="torch")) is not auto
    assert len(builder.calls) == 2
    with pytest.raises(ValueError, match="tensorrt"):
        pool.get(FAST, avatar("a"), opts(backend="tensorrt"))
    with pytest.raises(ValueError, match="unknown renderer"):
        pool.get("test-pool-missing", avatar("a"), opts())
    assert len(builder.calls) == 2


def test_max_bytes_must_be_positive() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError):
            RendererPool(max_bytes=bad)
