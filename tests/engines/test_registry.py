"""xactor.engines.registry: stage implementations by name, lazy built-ins, backend resolution."""

from __future__ import annotations

import importlib

import pytest

from xactor.engines.motion_source.base import MOTION_SOURCES
from xactor.engines.registry import BACKENDS, Registry, UnknownNameError, check_backend


def test_register_get_names_and_check() -> None:
    reg: Registry[object] = Registry("widget", builtin_modules=())
    a, b = object(), object()
    assert reg.register("beta", b) is b
    reg.register("alpha_1", a)
    assert reg.get("alpha_1") is a and reg.get("beta") is b
    assert reg.names() == ["alpha_1", "beta"]
    assert reg.check("beta") == "beta"


def test_unknown_name_lists_the_known_ones() -> None:
    reg: Registry[object] = Registry("widget", builtin_modules=())
    with pytest.raises(UnknownNameError, match=r"unknown widget 'x'; known: none"):
        reg.get("x")
    reg.register("b-two", object())
    reg.register("a-one", object())
    with pytest.raises(UnknownNameError) as err:
        reg.check("c-three")
    assert str(err.value) == "unknown widget 'c-three'; known: a-one, b-two"
    assert isinstance(err.value, ValueError)  # pydantic validators turn it into a 422


def test_duplicate_registration_is_refused() -> None:
    reg: Registry[object] = Registry("widget", builtin_modules=())
    spec = object()
    reg.register("w", spec)
    reg.register("w", spec)  # the same spec again (a module imported twice) is harmless
    with pytest.raises(ValueError, match="'w' is already registered"):
        reg.register("w", object())
    assert reg.get("w") is spec


@pytest.mark.parametrize("name", ["", "two words", "a/b", "dot.ted"])
def test_bad_names_are_refused(name: str) -> None:
    reg: Registry[object] = Registry("widget", builtin_modules=())
    with pytest.raises(ValueError, match="bad widget name"):
        reg.register(name, object())
    assert reg.names() == []


def test_unregister() -> None:
    reg: Registry[object] = Registry("widget", builtin_modules=())
    reg.register("w", object())
    reg.unregister("w")
    reg.unregister("never-there")  # no error
    with pytest.raises(UnknownNameError):
        reg.get("w")
    other = object()
    reg.register("w", other)  # the name is free again
    assert reg.get("w") is other


def test_builtins_are_imported_on_first_lookup_only(monkeypatch: pytest.MonkeyPatch) -> None:
    imported: list[str] = []
    reg: Registry[str] = Registry("widget", builtin_modules=("fake.builtin_a", "fake.builtin_b"))

    def fake_import(module: str) -> None:
        imported.append(module)
        reg.register(module.rsplit(".", 1)[1].replace("builtin_", "w"), module)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    reg.register("own", "mine")  # registering does not load the built-ins
    assert imported == []
    assert reg.get("wa") == "fake.builtin_a"
    assert imported == ["fake.builtin_a", "fake.builtin_b"]
    assert reg.names() == ["own", "wa", "wb"] and reg.check("wb") == "wb"
    with pytest.raises(UnknownNameError, match="known: own, wa, wb"):
        reg.get("nope")
    assert imported == ["fake.builtin_a", "fake.builtin_b"]  # once


def test_real_registries_know_their_builtins() -> None:
    assert "heuristic" in MOTION_SOURCES.names()
    assert MOTION_SOURCES.kind == "motion source"


# ---- backends --------------------------------------------------------------------------------------
def test_auto_takes_the_fastest_supported() -> None:
    assert check_backend("auto", ("tensorrt", "torch"), "renderer 'x'") == "tensorrt"
    assert check_backend("auto", ("torch",), "renderer 'x'") == "torch"


def test_a_supported_backend_is_itself() -> None:
    for backend in ("torch", "onnxruntime"):
        assert check_backend(backend, ("onnxruntime", "torch"), "renderer 'x'") == backend


def test_unsupported_backend_names_the_stage_and_what_it_runs_on() -> None:
    with pytest.raises(UnknownNameError) as err:
        check_backend("tensorrt", ("onnxruntime", "torch"), "renderer 'x'")
    assert str(err.value) == "renderer 'x' has no tensorrt backend; it runs on: onnxruntime, torch"


@pytest.mark.parametrize("supported", [(), ("torch",)])
def test_unknown_backend_lists_the_known_ones(supported: tuple[str, ...]) -> None:
    with pytest.raises(UnknownNameError) as err:
        check_backend("cuda", supported, "renderer 'x'")
    assert str(err.value) == f"unknown backend 'cuda'; known: {', '.join(BACKENDS)}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_supported_means_any_backend(backend: str) -> None:
    assert check_backend(backend, (), "motion source 'plain'") == backend
