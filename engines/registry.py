"""Registries of stage implementations by name: the server and CLI pick motion sources and
renderers by name, and a new implementation is one new module that registers itself.

Each registry knows the modules of its built-in implementations and imports them on first
lookup, so ``xactor --help`` and settings validation stay cheap and import order never matters.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

BACKENDS: tuple[str, ...] = ("auto", "torch", "onnxruntime", "tensorrt")
"""Runtime backends a stage may run on; ``auto`` is the stage's fastest (docs/ARCHITECTURE.md §5)."""


class UnknownNameError(ValueError):
    """A stage or backend name that no registered implementation answers to."""


class Registry(Generic[T]):
    """Name → implementation spec, filled by ``register`` calls in the modules listed as built in."""

    def __init__(self, kind: str, builtin_modules: tuple[str, ...]) -> None:
        self.kind = kind
        self._builtin = builtin_modules
        self._specs: dict[str, T] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def register(self, name: str, spec: T) -> T:
        """Add ``spec`` under ``name``; registering a name twice is a programming error."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"bad {self.kind} name {name!r}")
        with self._lock:
            if name in self._specs and self._specs[name] is not spec:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._specs[name] = spec
        return spec

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a double clean up with this)."""
        with self._lock:
            self._specs.pop(name, None)

    def _load_builtins(self) -> None:
        if self._loaded:
            return
        for module in self._builtin:
            importlib.import_module(module)
        self._loaded = True

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._specs)

    def get(self, name: str) -> T:
        """The spec registered as ``name``, or :class:`UnknownNameError` listing the known names."""
        self._load_builtins()
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(self.names()) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}")
        return spec

    def check(self, name: str) -> str:
        """``name`` if registered (for validators), else :class:`UnknownNameError`."""
        self.get(name)
        return name


def check_backend(name: str, supported: tuple[str, ...], stage: str) -> str:
    """The concrete backend ``name`` resolves to for a stage that runs on ``supported`` (fastest
    first); ``auto`` takes the first. An empty ``supported`` means the stage has no model to place
    (plain numpy) and takes any backend. Raises :class:`UnknownNameError` for a backend it lacks."""
    if name not in BACKENDS:
        raise UnknownNameError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    if not supported:
        return name
    if name == "auto":
        return supported[0]
    if name not in supported:
        raise UnknownNameError(f"{stage} has no {name} backend; it runs on: {', '.join(supported)}")
    return name


Factory = Callable[..., T]
