"""What several commands share: settings with a ``--data-dir`` override, the avatar store, avatars and
renderers by name, errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from xactor.engines.avatar.bundle import AvatarBundle
    from xactor.engines.avatar.store import AvatarStore
    from xactor.engines.render.base import Renderer
    from xactor.server.settings import Settings

# soft_wrap: a message is never broken into lines, so a path in it stays one string (copyable,
# greppable); the terminal wraps it where it must.
err = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: settings data_dir, env XACTOR_DATA_DIR)."),
]


def settings(data_dir: Path | None = None) -> Settings:
    """The process settings, with ``data_dir`` replaced when the command was given ``--data-dir``."""
    from xactor.server.settings import get_settings

    current = get_settings()
    if data_dir is None:
        return current
    return current.model_copy(update={"data_dir": data_dir.expanduser()})


def avatar_store(data_dir: Path | None = None) -> AvatarStore:
    """The avatar store the server would open (same upload guards), under ``--data-dir`` if given."""
    from xactor.server.stores import open_avatar_store

    return open_avatar_store(settings(data_dir))


def open_bundle(avatar: str, data_dir: Path | None = None) -> AvatarBundle:
    """The avatar ``avatar`` names: a portrait file (prepared now, largest face) or a stored id."""
    store = avatar_store(data_dir)
    path = Path(avatar)
    if path.suffix and path.is_file():
        return store.add(path.read_bytes(), name=path.stem, largest=True)
    return store.get(avatar)


def build_renderer(
    name: str, bundle: AvatarBundle, size: int, backend: str, data_dir: Path | None = None
) -> Renderer:
    """Renderer ``name`` for ``bundle`` through the registry (the same path the server takes)."""
    from xactor.engines.render import RendererOptions, create_renderer

    options = RendererOptions(size=size, backend=backend, weights_dir=settings(data_dir).weights_dir)
    return create_renderer(name, bundle, options)


def open_renderer(
    avatar: str, renderer_name: str, size: int, backend: str, data_dir: Path | None = None
) -> tuple[AvatarBundle, Renderer]:
    """The avatar and a renderer for it, or a one-line error exit (unknown avatar, size or stage)."""
    from xactor.engines.avatar.errors import AvatarError
    from xactor.engines.registry import UnknownNameError

    try:
        bundle = open_bundle(avatar, data_dir)
        if size not in bundle.sizes:
            raise fail(f"--size must be one of {bundle.sizes}")
        return bundle, build_renderer(renderer_name, bundle, size, backend, data_dir)
    except (AvatarError, UnknownNameError) as exc:
        raise fail(exc.message if isinstance(exc, AvatarError) else str(exc)) from None


def fail(message: str) -> typer.Exit:
    """Print a one-line ``error: ...`` to stderr; raise the returned exit (status 1)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)
