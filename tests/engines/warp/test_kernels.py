"""The fused kernels against their torch references: the mouth on real portraits and on made-up
lips (open, shut, crossed, shifted jaw, batches), the eyes blinking, widening and looking away;
whole frames alike; each used where it should be and nowhere else."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from xactor.engines import motion_space as ms
from xactor.engines.warp import AvatarRenderer, eyelid, kernels, lipline, mouth
from xactor.engines.warp.module import probe_motion

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed")


def _mouth_inputs(renderer: AvatarRenderer, batch: int, seed: int) -> tuple[dict[str, torch.Tensor], ...]:
    """The module's mouth constants and ``batch`` inner-lip polygons around the reference's:
    opened, pressed shut (upper and lower contour equal) and pushed through each other."""
    module = renderer.module
    c = module._group("mouth", module._mouth_keys)
    ref = module.ref[list(mouth.INNER_LIP_POLYGON)]  # [20, 2]
    rng = np.random.default_rng(seed)
    polygons = []
    for b in range(batch):
        poly = ref.clone()
        kind = b % 3
        upper, lower = slice(1, 10), slice(11, 20)  # the contours between the corners
        if kind == 0:  # open: the lower lip drops
            poly[lower, 1] += float(rng.uniform(2, 12))
        elif kind == 1:  # shut: the lower contour onto the upper one (reversed order)
            poly[lower] = poly[upper].flip(0)
        else:  # crossed: the lower lip above the upper one
            poly[lower, 1] -= float(rng.uniform(1, 4))
        poly += torch.as_tensor(rng.normal(0, 0.7, poly.shape), dtype=torch.float32)
        polygons.append(poly)
    jaw = torch.as_tensor(rng.normal(0, 3, (batch, 2)), dtype=torch.float32)
    return c, torch.stack(polygons), jaw


@pytest.mark.parametrize("batch", [1, 4])
def test_fused_mouth_layer_equals_the_torch_reference(any_renderer: AvatarRenderer, batch: int) -> None:
    c, polygons, jaw = _mouth_inputs(any_renderer, batch, seed=batch)
    depth, soft = any_renderer.module.mouth_depth_scale, any_renderer.module.mouth_softness
    with torch.no_grad():
        assert kernels.enabled(polygons, jaw)
        fused = mouth.mouth_layer(c, polygons, jaw, depth, soft)
        with kernels.torch_only():
            assert not kernels.enabled(polygons, jaw)
            reference = mouth.mouth_layer(c, polygons, jaw, depth, soft)
    assert fused.shape == reference.shape == (batch, 7, *c["nodes"].shape[:2])
    assert torch.isfinite(fused).all()
    np.testing.assert_allclose(fused.numpy(), reference.numpy(), atol=2e-4)
    assert (reference[:, 3] > 0.5).any()  # the open lips painted something: the comparison bites


@pytest.mark.parametrize(
    "channels",
    [{"eyeBlinkLeft": 1.0}, {"eyeBlinkRight": 0.6, "gazeYaw": -0.8}, {"eyeWideLeft": 1.0, "gazePitch": 0.7}],
)
def test_fused_eye_patches_equal_the_torch_reference(
    astronaut_renderer: AvatarRenderer, channels: dict
) -> None:
    module = astronaut_renderer.module
    motion = torch.zeros(2, ms.MOTION_DIM)
    for name, value in channels.items():
        motion[1, ms.INDEX[name]] = value  # row 0: open eyes, looking ahead
    eyes = module._group("eye", module._eye_keys)
    with torch.no_grad():
        lids = module.face_model((motion - module.own_motion) * module.eye_mask)[..., :2]  # [2, 478, 2]
        fused = eyelid.eye_patches(eyes, module.crop, lids, module.ref)
        with kernels.torch_only():
            reference = eyelid.eye_patches(eyes, module.crop, lids, module.ref)
    assert fused.shape == reference.shape and fused.shape[:3] == (2, 2, 3)
    np.testing.assert_allclose(fused.numpy(), reference.numpy(), atol=1e-4)
    assert float((reference[1] - reference[0]).abs().max()) > 0.1  # the lids or irises moved


def test_fused_seal_equals_the_torch_reference(any_renderer: AvatarRenderer) -> None:
    module = any_renderer.module
    m = module._group("mouth", module._mouth_keys)
    rng = np.random.default_rng(1)
    height, width = module.window
    corner = m["nodes"][0, 0]  # sources spread over the mouth ROI and past its edges (zeros there)
    span = m["nodes"][-1, -1] - corner
    unit = torch.as_tensor(rng.uniform(-0.1, 1.1, (2, 2, 2, height, width)), dtype=torch.float32)
    sources = corner[None, None, :, None, None] + unit * span[None, None, :, None, None]
    allowed = torch.as_tensor(rng.uniform(-2, 3, (2, 2, height, width)), dtype=torch.float32)
    args = (m["seal"], m["to_roi"], m["frame"][2], sources, allowed)
    with torch.no_grad():
        fused = lipline.seal_sources(*args)
        with kernels.torch_only():
            reference = lipline.seal_sources(*args)
    np.testing.assert_allclose(fused.numpy(), reference.numpy(), atol=1e-4)
    assert float((reference - sources).abs().max()) > 0.5  # some sources were pushed


def test_frames_with_and_without_the_kernel_are_the_same(any_renderer: AvatarRenderer) -> None:
    rng = np.random.default_rng(0)
    motion = torch.as_tensor(rng.uniform(ms.LOW, ms.HIGH, (6, ms.MOTION_DIM)), dtype=torch.float32)
    motion[:3] *= 0.3  # everyday motion, then extremes
    with torch.no_grad():
        fused = any_renderer.module(motion)
        with kernels.torch_only():
            reference = any_renderer.module(motion)
    assert float((fused - reference).abs().max()) * 255 < 0.01  # a hundredth of a grey level


def test_the_trace_calls_the_kernel_and_onnx_export_does_not(
    astronaut_renderer: AvatarRenderer, tmp_path: object
) -> None:
    module = astronaut_renderer.module
    probe = probe_motion(1)
    with torch.no_grad():
        traced = torch.jit.trace(module, (probe,), check_trace=False)
        with kernels.torch_only():
            plain = torch.jit.trace(module, (probe,), check_trace=False)
    for op in ("xactor::mouth_layer", "xactor::eye_patches", "xactor::seal_sources"):
        assert op in str(traced.graph)
        assert op not in str(plain.graph)
    with torch.no_grad():
        torch.onnx.export(module, (probe,), io.BytesIO(), opset_version=17, dynamo=False)  # standard ops only


def test_kernel_steps_aside_for_gradients_other_dtypes_and_devices() -> None:
    x = torch.zeros(1, 20, 2)
    assert not kernels.enabled(x)  # gradients on (the default): the torch code, which has a backward
    with torch.no_grad():
        assert kernels.enabled(x)
        assert not kernels.enabled(x.double())
        assert not kernels.enabled(x.to("meta"))


def test_without_numba_the_torch_code_renders_the_same_frame(
    astronaut_renderer: AvatarRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    motion = probe_motion(1)
    with torch.no_grad():
        fused = astronaut_renderer.module(motion)
        monkeypatch.setattr(kernels, "AVAILABLE", False)  # an install without numba
        assert not kernels.enabled(motion)
        plain = torch.jit.trace(astronaut_renderer.module, (motion,), check_trace=False)
        assert "xactor::" not in str(plain.graph)
        assert float((plain(motion) - fused).abs().max()) * 255 < 0.01
