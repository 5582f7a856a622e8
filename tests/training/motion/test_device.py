"""The training step keeps every tensor on the batch's device.

No GPU here, so the check runs on PyTorch's ``meta`` device: tensors with shapes and no data,
where an op mixing devices raises exactly as it would on a GPU. A tensor the loss made on the CPU
by default (``torch.arange(n)``, ``torch.rand(b)``), or a host sync on a value (``bool(x.any())``),
fails here before it fails on the first GPU.
"""

from __future__ import annotations

import torch

from xactor.engines.motion_gen.config import MotionGenConfig
from xactor.engines.motion_gen.model import MotionDenoiser
from xactor.training.motion.data import Batch
from xactor.training.motion.objective import ObjectiveConfig, channel_weights, diffusion_forcing_loss


def _batch(cfg: MotionGenConfig, frames: int) -> Batch:
    """Two windows of ``frames`` on the current default device (lookahead 1 and 0)."""
    b, t = 2, frames
    return Batch(
        audio=torch.randn(b, t + cfg.audio_window - 1, cfg.audio_dim),
        motion=torch.randn(b, t, cfg.motion_dim),
        emotion=torch.zeros(b, t, dtype=torch.long),
        intensity=torch.zeros(b, t),
        lookahead=torch.tensor([1, 0]),
        phones=torch.zeros(b, t, dtype=torch.long),
    )


def test_the_diffusion_forcing_loss_and_its_gradients_stay_on_the_batchs_device() -> None:
    cfg = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, phones=8, phone_hidden=16)
    with torch.device("meta"):
        model = MotionDenoiser(cfg)
        batch = _batch(cfg, 12)
        weights = channel_weights().to("meta")
    loss = diffusion_forcing_loss(model, model, batch, ObjectiveConfig(phone_weight=0.5), weights)
    assert loss.device.type == "meta" and loss.shape == ()
    loss.backward()
    assert all(p.grad is None or p.grad.device.type == "meta" for p in model.parameters())


def test_the_phone_loss_is_the_mean_over_frames_with_a_known_phone() -> None:
    """Written without a host sync, the phone term still averages over the aligned frames only and
    adds nothing where no frame is aligned (real-video clips)."""
    from xactor.training.motion.data import UNKNOWN_PHONE

    torch.manual_seed(0)
    cfg = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, phones=8, phone_hidden=16)
    model = MotionDenoiser(cfg)
    b, t = 2, 12
    audio = torch.randn(b, t + cfg.audio_window - 1, cfg.audio_dim)
    phones = torch.randint(0, 8, (b, t))
    phones[1] = UNKNOWN_PHONE
    batch = Batch(
        audio,
        torch.zeros(b, t, 40),
        torch.zeros(b, t, dtype=torch.long),
        torch.zeros(b, t),
        torch.tensor([1, 1]),
        phones,
    )
    objective = ObjectiveConfig(phone_weight=1.0, p_drop_audio=0.0, p_drop_emotion=0.0)
    weights = channel_weights()
    torch.manual_seed(1)
    with_phones = diffusion_forcing_loss(model, model, batch, objective, weights)
    torch.manual_seed(1)
    without = diffusion_forcing_loss(
        model, model, batch, ObjectiveConfig(phone_weight=0.0, p_drop_audio=0.0, p_drop_emotion=0.0), weights
    )
    logits = model.audio.phone_logits(audio)  # [B, T, classes]
    expected = torch.nn.functional.cross_entropy(logits[0], phones[0])  # row 0 only: row 1 is unaligned
    assert torch.allclose(with_phones - without, expected, atol=1e-5)
    batch.phones[:] = UNKNOWN_PHONE
    torch.manual_seed(1)
    none_known = diffusion_forcing_loss(model, model, batch, objective, weights)
    torch.manual_seed(1)
    assert torch.allclose(
        none_known,
        diffusion_forcing_loss(
            model,
            model,
            batch,
            ObjectiveConfig(phone_weight=0.0, p_drop_audio=0.0, p_drop_emotion=0.0),
            weights,
        ),
    )


def test_a_distillation_step_with_the_rollout_stays_on_the_batchs_device() -> None:
    """The teacher's guided sample, the student's step and its rollout on its own past (the live
    step, state and all), on the meta device: nothing made on the CPU by default."""
    from xactor.training.motion.distill import DistillConfig, distill_loss

    cfg = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, phones=8, phone_hidden=16)
    with torch.device("meta"):
        teacher, student = MotionDenoiser(cfg).eval(), MotionDenoiser(cfg)
        batch = _batch(cfg, 2 * cfg.chunk)  # whole chunks: the rollout streams them
    teacher.requires_grad_(False)
    distill_cfg = DistillConfig(teacher_steps=2, rollout_weight=1.0, rollout_bilabial_weight=3.0)
    loss = distill_loss(teacher, student, batch, distill_cfg, torch.Generator().manual_seed(0))
    assert loss.device.type == "meta" and loss.shape == ()
    loss.backward()
    assert any(p.grad is not None for p in student.parameters())
    assert all(p.grad is None or p.grad.device.type == "meta" for p in student.parameters())


def test_a_batch_moves_to_a_device_whole() -> None:
    batch = Batch(*(torch.zeros(2, 3) for _ in range(6)))
    moved = batch.to("meta")
    assert all(getattr(moved, name).device.type == "meta" for name in vars(batch))
