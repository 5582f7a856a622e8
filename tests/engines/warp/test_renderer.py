"""The warp renderer on two real portraits: identity, locality, lids, mouth, pose, robustness."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.avatar.bundle import AvatarBundle
from xactor.engines.warp import AvatarRenderer
from xactor.engines.warp.cache import AvatarCache
from xactor.engines.warp.module import WarpRenderer


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def box(points: np.ndarray, margin: float, size: int) -> tuple[slice, slice]:
    """Rows/cols slices of the bounding box of ``points`` [N, 2] grown by ``margin`` px."""
    lo = np.clip(np.floor(points.min(0) - margin), 0, size - 1).astype(int)
    hi = np.clip(np.ceil(points.max(0) + margin), 1, size).astype(int)
    return slice(lo[1], hi[1]), slice(lo[0], hi[0])


def mad(a: np.ndarray, b: np.ndarray, where: tuple[slice, slice]) -> float:
    """Mean absolute difference (0-255) of two frames inside a box."""
    return float(np.abs(a[where].astype(np.float64) - b[where].astype(np.float64)).mean())


def reference(renderer: AvatarRenderer) -> np.ndarray:
    return renderer.module.ref.numpy()  # [478, 2] crop px


def lum(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float64).mean(-1)


def test_the_portraits_own_motion_reproduces_the_reference(any_renderer: AvatarRenderer) -> None:
    frame = any_renderer.render(any_renderer.own_motion[None])[0]
    crop = any_renderer.module.crop[0].permute(1, 2, 0).numpy() * 255.0
    assert psnr(frame, np.round(crop)) >= 40.0


def test_jaw_open_changes_the_mouth_and_nothing_far_from_it(any_renderer: AvatarRenderer) -> None:
    size, ref = any_renderer.size, reference(any_renderer)
    own = any_renderer.own_motion[None]
    neutral, jaw = any_renderer.render(np.concatenate([own, own + ms.from_dict({"jawOpen": 0.8})]))
    mouth = box(ref[list(fr.LIPS)], 4, size)
    forehead = box(ref[[fr.FOREHEAD_TOP, 151, 9]], 6, size)
    brows = box(ref[list(fr.BROW_LEFT + fr.BROW_RIGHT)], 2, size)
    corners = [(slice(0, 24), slice(0, 24)), (slice(0, 24), slice(size - 24, size))]
    assert mad(neutral, jaw, mouth) > 8.0
    assert mad(neutral, jaw, forehead) < 0.5
    assert mad(neutral, jaw, brows) < 0.5
    for corner in corners:
        assert mad(neutral, jaw, corner) < 0.5


def test_open_jaw_shows_a_dark_mouth_interior_not_stretched_lips(hopper_renderer: AvatarRenderer) -> None:
    """Grace Hopper's mouth is closed in the portrait: the opening must be painted, not stretched."""
    motion = torch.as_tensor(ms.from_dict({"jawOpen": 1.0}))
    with torch.no_grad():
        target = hopper_renderer.module.face_model(motion)[0, :, :2].numpy()
    neutral, jaw = hopper_renderer.render(np.concatenate([ms.zeros(1), motion.numpy()]))
    upper, lower = target[fr.LIPS_INNER_UPPER[5]], target[fr.LIPS_INNER_LOWER[5]]
    assert lower[1] - upper[1] > 8.0  # the face model opened the lips
    centre = np.round(0.5 * (upper + lower)).astype(int)
    inside = lum(jaw)[centre[1] - 1 : centre[1] + 2, centre[0] - 2 : centre[0] + 3].mean()
    lips = lum(neutral)[box(reference(hopper_renderer)[list(fr.LIPS)], 0, 256)].mean()
    assert inside < 0.5 * lips


@pytest.mark.parametrize("iris", [fr.IRIS_LEFT, fr.IRIS_RIGHT], ids=["left", "right"])
def test_blink_draws_skin_over_the_eye(astronaut_renderer: AvatarRenderer, iris: tuple[int, ...]) -> None:
    ref = reference(astronaut_renderer)
    centre = ref[iris[0]]
    radius = float(np.linalg.norm(ref[list(iris[1:])] - centre, axis=1).mean())
    yy, xx = np.mgrid[0:256, 0:256]
    disc = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= (0.7 * radius) ** 2
    cheek = (np.abs(xx - centre[0]) <= 3) & (np.abs(yy - centre[1] - 4 * radius) <= 3)
    blink = ms.from_dict({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0})
    neutral, closed = astronaut_renderer.render(np.concatenate([ms.zeros(1), blink]))
    skin = lum(neutral)[cheek].mean()
    dark_before = (lum(neutral)[disc] < 0.6 * skin).mean()
    dark_after = (lum(closed)[disc] < 0.6 * skin).mean()
    assert dark_before > 0.8  # the iris is there to be covered
    assert dark_after < 0.35  # only the lash line remains dark
    assert lum(closed)[disc].mean() > 2.0 * lum(neutral)[disc].mean()


def test_blink_of_one_eye_leaves_the_other_open(astronaut_renderer: AvatarRenderer) -> None:
    ref = reference(astronaut_renderer)
    wink = ms.from_dict({"eyeBlinkLeft": 1.0})
    neutral, wink = astronaut_renderer.render(np.concatenate([ms.zeros(1), wink]))
    left = box(ref[list(fr.EYE_LEFT)], 2, 256)
    right = box(ref[list(fr.EYE_RIGHT)], 2, 256)
    assert mad(neutral, wink, left) > 10.0
    assert mad(neutral, wink, right) < 0.5


def test_invalid_motion_is_clamped_and_finite(astronaut_renderer: AvatarRenderer) -> None:
    module = astronaut_renderer.module
    wild = torch.tensor(
        [
            [float("nan")] * ms.MOTION_DIM,
            [float("inf")] * ms.MOTION_DIM,
            [-float("inf")] * ms.MOTION_DIM,
            [1e9] * ms.MOTION_DIM,
        ]
    )
    wild = torch.cat([wild, torch.randn(4, ms.MOTION_DIM, generator=torch.Generator().manual_seed(0)) * 50])
    with torch.no_grad():
        out = module(wild)
        clamped = module(ms.clamp(wild))
    assert torch.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    # Batched vs single evaluation may differ in float rounding (threaded reductions): 1e-4 is
    # 0.03 grey levels.
    assert torch.allclose(out, clamped, atol=1e-4)
    assert torch.allclose(out[0], module(torch.zeros(1, ms.MOTION_DIM))[0], atol=1e-4)


def test_extreme_motion_everywhere_at_once_is_finite(any_renderer: AvatarRenderer) -> None:
    corners = np.stack([ms.LOW, ms.HIGH, np.where(np.arange(ms.MOTION_DIM) % 2, ms.LOW, ms.HIGH)])
    frames = any_renderer.render(corners)
    assert frames.shape == (3, 256, 256, 3)


def test_a_batch_equals_frames_one_by_one(astronaut_renderer: AvatarRenderer) -> None:
    gen = torch.Generator().manual_seed(1)
    low, high = torch.as_tensor(ms.LOW), torch.as_tensor(ms.HIGH)
    motion = low + torch.rand(8, ms.MOTION_DIM, generator=gen) * (high - low)
    motion[:, ms.POSE_SLICE] *= 0.5
    module = astronaut_renderer.module
    with torch.no_grad():
        batched = module(motion)
        single = torch.cat([module(motion[i : i + 1]) for i in range(8)])
    assert (batched - single).abs().max() < 1e-4


def test_head_turn_moves_the_face_not_the_picture_corners(any_renderer: AvatarRenderer) -> None:
    size, ref = any_renderer.size, reference(any_renderer)
    neutral, turned = any_renderer.render(np.concatenate([ms.zeros(1), ms.from_dict({"headYaw": 0.35})]))
    face = box(ref[list(fr.NOSE + fr.EYE_LEFT + fr.EYE_RIGHT)], 2, size)
    assert mad(neutral, turned, face) > 8.0
    for rows, cols in [(slice(0, 20), slice(0, 20)), (slice(0, 20), slice(size - 20, size))]:
        assert mad(neutral, turned, (rows, cols)) < 0.5
    bottom = (slice(size - 3, size), slice(0, size))  # the crop's edge stays for the paste-back
    assert mad(neutral, turned, bottom) < 1.0


def test_roll_and_shift_move_the_whole_head(astronaut_renderer: AvatarRenderer) -> None:
    ref = reference(astronaut_renderer)
    neutral, moved = astronaut_renderer.render(
        np.concatenate([ms.zeros(1), ms.from_dict({"headTx": 0.1, "headRoll": 0.1})])
    )
    hair = box(ref[[fr.FOREHEAD_TOP]] - np.array([0.0, 20.0]), 6, 256)  # above the forehead
    assert mad(neutral, moved, hair) > 3.0


def test_paste_back_fills_the_portrait(hopper: AvatarBundle, hopper_renderer: AvatarRenderer) -> None:
    frames = hopper_renderer.render(np.concatenate([ms.zeros(1), ms.from_dict({"jawOpen": 0.8})]))
    full = hopper_renderer.paste_back(frames)
    source = hopper.source()
    assert full.shape == (2, *source.shape)
    assert psnr(full[0], source) > 30.0  # the unmoved crop goes back where it came from (resampled)
    changed = np.abs(full[1].astype(int) - source.astype(int)).max(-1) > 20
    rows, cols = np.nonzero(changed)
    mouth = hopper.source_landmarks()[list(fr.LIPS), :2]
    assert rows.size > 0
    assert np.all(np.abs(cols.mean() - mouth[:, 0].mean()) < 25)
    assert np.all(np.abs(rows.mean() - mouth[:, 1].mean()) < 40)


@pytest.mark.slow
def test_512_crop(astronaut: AvatarBundle) -> None:
    renderer = AvatarRenderer.from_bundle(astronaut, size=512)
    own = renderer.own_motion[None]
    neutral, jaw = renderer.render(np.concatenate([own, own + ms.from_dict({"jawOpen": 0.8})]))
    assert psnr(neutral, astronaut.crop(512)) >= 40.0
    assert mad(neutral, jaw, box(reference(renderer)[list(fr.LIPS)], 8, 512)) > 8.0


@pytest.mark.parametrize("gaze", [1.0, -1.0])
def test_gaze_moves_the_irises(astronaut_renderer: AvatarRenderer, gaze: float) -> None:
    ref = reference(astronaut_renderer)
    neutral, looking = astronaut_renderer.render(
        np.concatenate([ms.zeros(1), ms.from_dict({"gazeYaw": gaze})])
    )
    for eye in (fr.EYE_LEFT, fr.EYE_RIGHT):
        rows, cols = box(ref[list(eye)], 1, 256)
        centroids = []
        for frame in (neutral, looking):
            dark = lum(frame)[rows, cols] < 90  # iris and pupil
            centroids.append(np.nonzero(dark)[1].mean())
        assert gaze * (centroids[1] - centroids[0]) > 1.0  # toward image-right for positive gaze


def test_traced_render_matches_the_eager_module(astronaut_renderer: AvatarRenderer) -> None:
    motion = ms.from_dict({"jawOpen": 0.6, "headYaw": -0.2, "eyeBlinkRight": 0.7}, frames=3)
    motion[1, ms.INDEX["mouthSmileLeft"]] = 1.0
    eager = AvatarRenderer(astronaut_renderer.module, trace=False)
    assert np.array_equal(astronaut_renderer.render(motion), eager.render(motion))
    # A batch of one against a batch of three: BLAS may sum in another order (a few 1e-6), which
    # can move a pixel across a rounding step.
    single = astronaut_renderer.render(motion[0]).astype(int)
    assert np.abs(single - eager.render(motion)[0]).max() <= 1


def test_absolute_neutral_closes_the_lips_of_both_portraits(any_renderer: AvatarRenderer) -> None:
    """Retargeting: motion is absolute, so zero closes even a portrait that smiles with lips apart,
    and jawOpen 0.5 opens them as on a neutral face."""
    from xactor.engines.warp.retarget import lip_gap

    ref = reference(any_renderer)
    width = float(np.linalg.norm(ref[fr.LIPS_INNER_UPPER[-1]] - ref[fr.LIPS_INNER_UPPER[0]]))
    marks = any_renderer.target_landmarks(np.concatenate([ms.zeros(1), ms.from_dict({"jawOpen": 0.5})]))
    closed, open_ = lip_gap(marks)
    assert closed < 0.02 * width, (closed, width)
    assert open_ > 0.08 * width, (open_, width)  # clearly open (a closed mouth reads <= 0)


def test_retargeting_hides_the_astronauts_teeth_at_neutral(astronaut_renderer: AvatarRenderer) -> None:
    ref, size = reference(astronaut_renderer), astronaut_renderer.size
    assert astronaut_renderer.own_motion[ms.INDEX["jawOpen"]] > 0.2  # she smiles with lips apart
    photo, neutral = astronaut_renderer.render(np.stack([astronaut_renderer.own_motion, ms.zeros(1)[0]]))
    inner = box(ref[list(fr.LIPS_INNER_UPPER + fr.LIPS_INNER_LOWER)], 0, size)
    teeth = lambda f: float((f[inner].min(-1) > 175).mean())  # noqa: E731  (white: skin has less blue)
    assert teeth(photo) > 0.15 and teeth(neutral) < 0.65 * teeth(photo), (teeth(photo), teeth(neutral))


def test_the_mouth_window_renders_what_the_whole_frame_would(any_renderer: AvatarRenderer) -> None:
    """The mouth's layers, seal and interior run on a window that follows the mouth; over extreme
    motion (every channel anywhere in its range, head poses at their ends) the frame equals the
    one rendered with those layers over the whole frame."""
    module = any_renderer.module
    height, width = module.window
    assert height * width < 0.35 * module.size**2  # the point of it: a fraction of the frame
    face_model = copy.deepcopy(module.face_model)
    whole = WarpRenderer(
        AvatarCache.build(module.crop[0].permute(1, 2, 0).mul(255).round().byte().numpy(), face_model),
        face_model,
        own_motion=module.own_motion.numpy(),
        mouth_window=False,
    )
    rng = np.random.default_rng(3)
    motion = rng.uniform(ms.LOW, ms.HIGH, size=(12, ms.MOTION_DIM)).astype(np.float32)
    pose = ms.POSE_SLICE
    motion[:6, pose] = np.where(rng.random((6, pose.stop - pose.start)) < 0.5, ms.LOW[pose], ms.HIGH[pose])
    with torch.no_grad():
        windowed, full = module(torch.as_tensor(motion)), whole(torch.as_tensor(motion))
    assert float((windowed - full).abs().max()) < 2e-4


def test_planes_become_rounded_interleaved_bytes() -> None:
    """The renderer's uint8 conversion: round to nearest, saturate above 1, channels interleaved."""
    from xactor.engines.warp.renderer import planes_to_images

    rng = np.random.default_rng(0)
    planes = rng.random((2, 3, 16, 24), dtype=np.float32)
    planes[0, 0, 0, 0], planes[1, 2, 5, 7] = 1.3, 0.0
    images = planes_to_images(planes)
    assert images.shape == (2, 16, 24, 3) and images.dtype == np.uint8 and images.flags.c_contiguous
    expected = np.floor(np.clip(planes, 0.0, 1.0) * 255.0 + 0.5).transpose(0, 2, 3, 1)
    assert np.abs(images.astype(np.int16) - expected).max() <= 1  # ties may round to even
    assert images[0, 0, 0, 0] == 255 and images[1, 5, 7, 2] == 0
    assert (images == expected).mean() > 0.999
