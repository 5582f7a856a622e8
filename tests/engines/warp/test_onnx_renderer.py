"""The warp renderer on ONNX Runtime: registered as the ``onnxruntime`` backend, the same frames as
the torch renderer (to a grey level), batches of any size."""

from __future__ import annotations

import numpy as np

from xactor.engines.avatar.bundle import AvatarBundle
from xactor.engines.offline.demo import demo_motion
from xactor.engines.render import RendererOptions, create_renderer
from xactor.engines.warp import AvatarRenderer
from xactor.engines.warp.onnx_renderer import OrtRunner
from xactor.engines.warp.renderer import TorchRunner


def test_onnxruntime_warp_matches_torch(astronaut_bundle: AvatarBundle) -> None:
    ort = create_renderer("warp", astronaut_bundle, RendererOptions(size=256, backend="onnxruntime"))
    ref = create_renderer("warp", astronaut_bundle, RendererOptions(size=256, backend="torch"))
    assert isinstance(ort, AvatarRenderer) and isinstance(ort.runner, OrtRunner)
    assert isinstance(ref, AvatarRenderer) and isinstance(ref.runner, TorchRunner)
    motion = demo_motion(2.0)[::10].astype(np.float32)  # [5, 40]: speech, smile, blink, head turns
    for batch in (motion[:1], motion[1:4]):
        got, want = ort.render(batch), ref.render(batch)
        assert got.shape == want.shape == (len(batch), 256, 256, 3) and got.dtype == np.uint8
        diff = np.abs(got.astype(int) - want.astype(int))
        assert diff.max() <= 2 and diff.mean() < 0.05, (diff.max(), diff.mean())
    assert ort.render(motion[0]).shape == (256, 256, 3)  # one frame in, one frame out
    assert ort.nbytes > ref.nbytes  # the exported graphs count
