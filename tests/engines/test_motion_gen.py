"""The generator's model and samplers: masks, KV-cache streaming equals full recomputation,
teacher forcing equals step-by-step generation, weights round trip and corrupt files."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from xactor.engines.motion_gen.config import MotionGenConfig
from xactor.engines.motion_gen.features import Normalizer
from xactor.engines.motion_gen.model import MotionDenoiser, block_causal_mask, teacher_forcing_mask
from xactor.engines.motion_gen.sampler import (
    Conditioning,
    Denoiser,
    StreamingGenerator,
    step_toward,
    time_steps,
)
from xactor.engines.motion_gen.weights import WeightsError, load_weights, save_weights


def tiny_model(seed: int = 0, **kw: int) -> MotionDenoiser:
    torch.manual_seed(seed)
    cfg = MotionGenConfig(**{"d_model": 32, "n_layers": 2, "n_heads": 2, "context": 12, **kw})
    model = MotionDenoiser(cfg)
    torch.nn.init.normal_(model.head.weight, std=0.3)  # zero-initialised: make the output depend on inputs
    return model.eval().requires_grad_(False)


def test_block_causal_mask_chunks_and_window() -> None:
    pos = torch.arange(6)
    m = block_causal_mask(pos, pos, chunk=2, context=4)
    assert m[0, 1] and m[1, 0]  # inside a chunk: both ways
    assert not m[1, 2]  # never a later chunk
    assert m[5, 2] and not m[5, 1]  # at most 4 frames back
    tf = teacher_forcing_mask(3, chunk=1, context=8)
    assert tf[3, 0] is not None and not tf[3, 0]  # noisy frame 0 sees no clean frame
    assert tf[4, 0] and not tf[4, 1] and not tf[4, 3] and tf[4, 4]  # noisy 1: clean 0 and itself
    assert not tf[:3, 3:].any()  # clean tokens never see noisy ones


def _reference_stream(
    model: MotionDenoiser,
    audio: np.ndarray,
    silence: np.ndarray,
    steps: int,
    lookahead: int,
    guidance: float,
    seed: int,
) -> np.ndarray:
    """Frame by frame without a cache: the whole clean history recomputed every pass, with the
    mask's sliding window (each token attends to its own last ``context`` tokens)."""
    cfg = model.cfg
    den = Denoiser(model, guidance)
    pad_before = np.tile(silence, (cfg.audio_history - 1, 1))
    pad_after = np.tile(silence, (cfg.max_lookahead, 1))
    a = torch.from_numpy(np.concatenate([pad_before, audio, pad_after]).astype(np.float32))[None]
    frames = audio.shape[0]
    # The streaming generator sees future rows only up to L; rows beyond are masked by the encoder.
    emb = torch.cat([model.encode_audio(a[:, k : k + cfg.audio_window], lookahead) for k in range(frames)], 1)
    emo = model.emotion_embedding(torch.full((1, frames), cfg.n_emotions), torch.zeros(1, frames))
    rng = torch.Generator().manual_seed(seed)
    levels = time_steps(steps)
    hist = torch.zeros(1, 0, cfg.motion_dim)
    for k in range(frames):
        x = torch.randn((1, 1, cfg.motion_dim), generator=rng)
        lo = 0
        pos = torch.arange(lo, k + 1)
        cond = den.expand(Conditioning(emb[:, lo : k + 1], emo[:, lo : k + 1]))
        mask = block_causal_mask(pos, pos, 1, cfg.context)
        for t, s in itertools.pairwise(levels):
            tt = torch.cat([torch.zeros(1, k - lo), torch.full((1, 1), t)], 1)
            x0, _ = den(torch.cat([hist[:, lo:], x], 1), tt, cond, pos, mask)
            x = step_toward(x, x0[:, -1:], t, s)
        hist = torch.cat([hist, x], 1)
    return hist[0].numpy()


@pytest.mark.parametrize(("steps", "lookahead", "guidance"), [(1, 0, 1.0), (3, 1, 1.5), (2, 3, 2.0)])
def test_streaming_over_the_kv_cache_equals_recomputation(
    steps: int, lookahead: int, guidance: float
) -> None:
    model = tiny_model()
    rng = np.random.default_rng(0)
    frames = 30  # longer than the context (12): the cache rolls
    audio = rng.standard_normal((frames, model.cfg.audio_dim)).astype(np.float32)
    silence = rng.standard_normal(model.cfg.audio_dim).astype(np.float32)
    gen = StreamingGenerator(Denoiser(model, guidance), silence, steps, seed=3, lookahead=lookahead)
    got = []
    for chunk in np.array_split(audio, [1, 2, 9, 10, 25]):  # any push sizes
        got.extend(gen.push(chunk))
    got.extend(gen.flush())
    assert len(got) == frames
    assert gen.cache is not None and gen.cache[0][0].shape[2] == model.cfg.context - 1
    want = _reference_stream(model, audio, silence, steps, lookahead, guidance, seed=3)
    np.testing.assert_allclose(np.stack(got), want, atol=2e-5)
    gen.reset()
    again = gen.push(audio) + gen.flush()
    np.testing.assert_array_equal(np.stack(again), np.stack(got))


def test_frames_come_out_after_the_lookahead() -> None:
    model = tiny_model()
    silence = np.zeros(model.cfg.audio_dim, np.float32)
    gen = StreamingGenerator(Denoiser(model), silence, 1, lookahead=2)
    assert gen.push(np.zeros((2, model.cfg.audio_dim), np.float32)) == []
    assert len(gen.push(np.zeros((1, model.cfg.audio_dim), np.float32))) == 1
    with pytest.raises(ValueError, match="lookahead"):
        StreamingGenerator(Denoiser(model), silence, 1, lookahead=4)


def test_teacher_forcing_equals_generation_after_a_true_history() -> None:
    """The doubled-sequence mask (training validation, distillation) computes, in one pass, what
    the streaming sampler computes for each frame after a clean history."""
    model = tiny_model(chunk=1)
    cfg, frames = model.cfg, 8
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn((1, frames, cfg.motion_dim), generator=g)
    noisy = torch.randn((1, frames, cfg.motion_dim), generator=g)
    audio = torch.randn((1, frames, cfg.d_model), generator=g)
    emo = torch.randn((1, frames, cfg.d_model), generator=g)
    pos = torch.cat([torch.arange(frames), torch.arange(frames)])
    t = torch.cat([torch.zeros(1, frames), torch.full((1, frames), 0.7)], 1)
    both, _ = model(
        torch.cat([x0, noisy], 1),
        t,
        torch.cat([audio, audio], 1),
        torch.cat([emo, emo], 1),
        pos,
        teacher_forcing_mask(frames, 1, cfg.context),
    )
    for k in range(frames):
        p = torch.arange(k + 1)
        seq = torch.cat([x0[:, :k], noisy[:, k : k + 1]], 1)
        tt = torch.cat([torch.zeros(1, k), torch.full((1, 1), 0.7)], 1)
        one, _ = model(
            seq, tt, audio[:, : k + 1], emo[:, : k + 1], p, block_causal_mask(p, p, 1, cfg.context)
        )
        torch.testing.assert_close(both[:, frames + k], one[:, -1], atol=1e-5, rtol=1e-4)


def _normalizer() -> Normalizer:
    rng = np.random.default_rng(0)
    return Normalizer.fit(
        rng.standard_normal((100, 80)).astype(np.float32), rng.standard_normal((100, 40)).astype(np.float32)
    )


def test_weights_round_trip_and_corrupt_files(tmp_path) -> None:
    from xactor.engines.motion_gen.weights import SamplerSettings

    model = tiny_model()
    save_weights(
        tmp_path, "m", model, _normalizer(), SamplerSettings(steps=3, guidance=1.5), {"note": "test"}
    )
    loaded = load_weights(tmp_path, "m")
    assert loaded.sampler.steps == 3 and loaded.record["note"] == "test"
    for a, b in zip(loaded.model.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(WeightsError, match="missing"):
        load_weights(tmp_path, "other")
    (tmp_path / "m.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WeightsError, match="corrupt"):
        load_weights(tmp_path, "m")
    save_weights(tmp_path, "m", model, _normalizer(), SamplerSettings())
    (tmp_path / "m.json").write_text('{"config": {"d_model": 32, "wings": 2}}')
    with pytest.raises(WeightsError, match="config"):
        load_weights(tmp_path, "m")
    save_weights(tmp_path, "m", tiny_model(d_model=64), _normalizer(), SamplerSettings())
    save_weights(tmp_path / "x", "m", model, _normalizer(), SamplerSettings())
    (tmp_path / "m.json").write_text((tmp_path / "x" / "m.json").read_text())  # config of another model
    with pytest.raises(WeightsError, match="does not fit"):
        load_weights(tmp_path, "m")


def test_a_long_stream_keeps_constant_state() -> None:
    model = tiny_model()
    gen = StreamingGenerator(Denoiser(model), np.zeros(model.cfg.audio_dim, np.float32), 1)
    rng = np.random.default_rng(2)
    out = gen.push(rng.standard_normal((500, model.cfg.audio_dim)).astype(np.float32))
    assert len(out) == 499 and np.isfinite(np.stack(out)).all()
    assert gen.cache is not None and gen.cache[0][0].shape[2] == model.cfg.context - 1
