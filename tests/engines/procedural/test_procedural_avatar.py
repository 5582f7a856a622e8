"""Procedural identities as avatars: exact, consistent geometry in the bundle, stored once per seed,
and the diffusion renderer on them (tiny random weights): deterministic, batched = one by one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from xactor.engines import motion_space as ms
from xactor.engines.avatar.store import AvatarStore
from xactor.engines.diffusion.model import RenderDenoiser, RenderModelConfig
from xactor.engines.diffusion.renderer import DiffusionRenderer
from xactor.engines.diffusion.weights import save_render_weights
from xactor.engines.procedural.avatar import add_procedural
from xactor.engines.render.base import RendererOptions, create_renderer


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> AvatarStore:
    return AvatarStore(tmp_path_factory.mktemp("procedural") / "avatars", with_default=False)


def test_bundle_geometry_is_exact_and_consistent(store: AvatarStore, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle, created = add_procedural(store, 2_000_003)
    assert created and bundle.meta.procedural_seed == 2_000_003 and bundle.sizes == (256, 512)

    def no_redraw(seed: int) -> None:
        raise AssertionError("a stored procedural avatar was drawn again")

    with monkeypatch.context() as patch:
        patch.setattr("xactor.engines.procedural.avatar.procedural_portrait", no_redraw)
        reopened = AvatarStore(store.root, with_default=False)  # a restarted server
        assert add_procedural(reopened, 2_000_003)[0].id == bundle.id
        assert add_procedural(store, 2_000_003) == (bundle, False)  # same seed, same avatar
    lm256, src = bundle.landmarks(256), bundle.source_landmarks()
    t = bundle.crop_to_source(256)
    mapped = lm256[:, :2] @ t[:, :2].T + t[:, 2]
    np.testing.assert_allclose(mapped, src[:, :2], atol=1e-3)  # crop → source exactly
    placed = bundle.placement(256).to_pixels(bundle.canonical_shape)
    np.testing.assert_allclose(placed, lm256, atol=1e-3)
    assert np.abs(bundle.crop(512).astype(int) - bundle.source()).max() == 0


def test_diffusion_renderer_on_a_procedural_avatar(store: AvatarStore, tmp_path: Path) -> None:
    tiny = RenderDenoiser(RenderModelConfig(widths=(16, 32, 32)))
    save_render_weights(tmp_path, "render_student", tiny, 1, {})
    bundle, _ = add_procedural(store, 2_000_004)
    renderer = create_renderer("diffusion", bundle, RendererOptions(size=256, weights_dir=tmp_path))
    motion = np.stack([ms.zeros()[0], ms.from_dict({"jawOpen": 0.6, "headYaw": 0.2})[0]])
    frames = renderer.render(motion)
    assert frames.shape == (2, 256, 256, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(renderer.render(motion[1]), frames[1])  # deterministic, batch = alone
    assert np.abs(frames[0].astype(int) - frames[1]).mean() > 1  # the motion shows
    photo = AvatarStore(tmp_path / "photos", with_default=True).ensure_default()
    with pytest.raises(ValueError, match="use the warp renderer"):
        create_renderer("diffusion", photo, RendererOptions(size=256, weights_dir=tmp_path))


def test_diffusion_renderer_on_onnxruntime_matches_torch(store: AvatarStore, tmp_path: Path) -> None:
    import torch

    torch.manual_seed(0)
    model = RenderDenoiser(RenderModelConfig(widths=(16, 32, 32)))
    for p in model.parameters():  # the zero-initialised output would make both return the prior
        torch.nn.init.normal_(p, std=0.05)
    save_render_weights(tmp_path, "render_student", model, 2, {})  # two steps: the loop runs on ORT
    bundle, _ = add_procedural(store, 2_000_005)
    motion = np.stack([ms.from_dict({"jawOpen": 0.5})[0], ms.from_dict({"eyeBlinkLeft": 1.0})[0]])
    renderers = {
        backend: create_renderer("diffusion", bundle, RendererOptions(256, backend, tmp_path))
        for backend in ("torch", "onnxruntime")
    }
    on_ort = renderers["onnxruntime"]
    assert isinstance(on_ort, DiffusionRenderer) and on_ort.denoiser.step is not None
    single = np.stack([on_ort.render(m) for m in motion])
    assert np.abs(renderers["torch"].render(motion).astype(int) - on_ort.render(motion)).max() <= 2
    np.testing.assert_array_equal(single, on_ort.render(motion))  # a batch = its frames alone


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_avatars_on_one_denoiser_render_together_in_one_batch(
    store: AvatarStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The render stage's batch across avatars: every avatar's conditioning gathered into one
    denoiser run, each frame the one its avatar renders alone; renderers of another size refused."""
    import torch

    from xactor.engines.diffusion import renderer as diffusion

    torch.manual_seed(1)
    model = RenderDenoiser(RenderModelConfig(widths=(16, 32, 32)))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    save_render_weights(tmp_path, "render_student", model, 1, {})
    options = RendererOptions(256, backend, tmp_path)
    one, two = (
        create_renderer("diffusion", add_procedural(store, s)[0], options) for s in (2_000_008, 2_000_009)
    )
    assert isinstance(one, DiffusionRenderer) and isinstance(two, DiffusionRenderer)
    assert one.batch_key() == two.batch_key() and one.denoiser is two.denoiser
    motion = np.stack([ms.from_dict({"jawOpen": 0.5})[0], ms.from_dict({"headYaw": 0.3})[0]])
    alone = [one.render(motion[:1]), two.render(motion)]
    batches: list[int] = []
    residual = diffusion.Denoiser.residual

    def counted(self: diffusion.Denoiser, prior: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        batches.append(len(prior))
        return residual(self, prior, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(diffusion.Denoiser, "residual", counted)
    together = one.render_together([(one, motion[:1]), (two, motion)])
    assert batches == [3]  # one denoiser run for both avatars
    assert [f.shape for f in together] == [(1, 256, 256, 3), (2, 256, 256, 3)]
    for got, want in zip(together, alone, strict=True):
        assert np.abs(got.astype(int) - want).max() <= 2
    assert np.abs(together[0][0].astype(int) - together[1][0]).mean() > 1  # two faces, not one
    other = create_renderer(
        "diffusion", add_procedural(store, 2_000_010)[0], RendererOptions(128, backend, tmp_path)
    )
    assert other.batch_key() != one.batch_key()
    with pytest.raises(ValueError, match="one denoiser and size"):
        one.render_together([(one, motion[:1]), (other, motion[:1])])


def test_denoiser_is_shared_by_avatars_and_its_graph_exported_once(
    store: AvatarStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One denoiser per weights file for every avatar; its ONNX step is exported into the cache once
    (a restarted process finds it), and other weights get their own graph."""
    from xactor.engines.diffusion import renderer as diffusion
    from xactor.engines.onnx_io import cache_dir

    monkeypatch.setenv("XACTOR_CACHE_DIR", str(tmp_path / "cache"))
    tiny = RenderDenoiser(RenderModelConfig((16, 32, 32)))
    save_render_weights(tmp_path / "a", "render_student", tiny, 1, {})
    options = RendererOptions(size=128, backend="onnxruntime", weights_dir=tmp_path / "a")
    one = create_renderer("diffusion", add_procedural(store, 2_000_006)[0], options)
    two = create_renderer("diffusion", add_procedural(store, 2_000_007)[0], options)
    assert isinstance(one, diffusion.DiffusionRenderer) and isinstance(two, diffusion.DiffusionRenderer)
    assert one.denoiser is two.denoiser and one.backend == "onnxruntime"
    assert one.denoiser.step is not None  # two sleeping intra-op threads unless told otherwise
    assert one.denoiser.step.session.get_session_options().intra_op_num_threads == 2
    single = create_renderer(
        "diffusion", add_procedural(store, 2_000_008)[0], dataclasses.replace(options, threads=1)
    )
    assert isinstance(single, diffusion.DiffusionRenderer) and single.denoiser is not one.denoiser
    assert single.denoiser.step is not None
    assert single.denoiser.step.session.get_session_options().intra_op_num_threads == 1
    (graph,) = cache_dir().glob("render_step_128-*.onnx")
    exported_at = graph.stat().st_mtime_ns
    monkeypatch.setattr(diffusion, "_denoisers", {})  # a restarted process: the file is reused
    assert diffusion.shared_denoiser(tmp_path / "a", "onnxruntime").step is not None
    assert graph.stat().st_mtime_ns == exported_at
    tiny = RenderDenoiser(RenderModelConfig((16, 16, 32)))
    save_render_weights(tmp_path / "b", "render_student", tiny, 1, {})
    diffusion.shared_denoiser(tmp_path / "b", "onnxruntime")
    assert len(list(cache_dir().glob("render_step_128-*.onnx"))) == 2
    (tmp_path / "c").mkdir()
    with pytest.raises(ValueError, match="missing"):
        diffusion.shared_denoiser(tmp_path / "c", "onnxruntime")
