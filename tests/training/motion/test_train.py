"""``xactor train motion`` / ``xactor distill motion`` on a tiny corpus: a few steps each, resume,
exported weights that load, and the same training script under torchrun with 2 gloo processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from xactor.cli.main import app
from xactor.engines.motion_gen.weights import STUDENT, TEACHER, load_weights

TINY = ["--batch", "2", "--frames", "24", "--val-every", "2"]
MODEL = ["--no-augment"]


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_train_resume_and_distill(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner = CliRunner()
    args = ["train", "motion", "--data", str(tiny_corpus), "--out", str(run), *TINY, "--threads", "1"]
    result = runner.invoke(app, [*args, "--steps", "2"])
    assert result.exit_code == 0, result.output
    first = load_weights(run, TEACHER)
    assert first.record["step"] == 2 and set(first.record["val"]) == {
        "mse_t1",
        "mse_t05",
        "jaw_rho_t1",
        "phone_acc",
    }
    assert first.config.phones > 0  # the phonetic front end is the default
    plain = tmp_path / "plain"
    args_plain = ["train", "motion", "--data", str(tiny_corpus), "--out", str(plain), *TINY, "--threads", "1"]
    assert runner.invoke(app, [*args_plain, "--steps", "1", "--no-phones"]).exit_code == 0
    assert load_weights(plain, TEACHER).config.phones == 0
    result = runner.invoke(app, [*args, "--steps", "4"])  # resumes at step 2
    assert result.exit_code == 0, result.output
    assert load_weights(run, TEACHER).record["step"] == 4
    steps = [r["step"] for r in _log(run / "train_log.jsonl") if "val" in r]
    assert steps == [2, 4]

    student = tmp_path / "student"
    result = runner.invoke(
        app,
        [
            "distill",
            "motion",
            "--teacher",
            str(run),
            "--data",
            str(tiny_corpus),
            "--out",
            str(student),
            "--steps",
            "2",
            "--batch",
            "2",
            "--frames",
            "16",
            "--teacher-steps",
            "2",
            "--no-augment",
            "--rollout-weight",
            "1.0",
            "--lookahead-p",
            "0.5,0.5",
            "--teacher-lookahead",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    st = load_weights(student, STUDENT)
    assert st.record["distill"]["rollout_weight"] == 1.0
    assert st.record["distill"]["lookahead_p"] == [0.5, 0.5]
    assert st.record["distill"]["teacher_lookahead"] == 1
    assert st.sampler.steps == 1 and st.sampler.guidance == 1.0 and st.record["step"] == 2


def test_distill_without_a_teacher_is_a_clear_error(tiny_corpus: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "distill",
            "motion",
            "--teacher",
            str(tmp_path),
            "--data",
            str(tiny_corpus),
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert result.exit_code != 0 and "missing" in result.output


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (["--lookahead-p", "0.5,x"], "comma-separated numbers"),
        (["--lookahead-p", "0.2,0.2,0.2,0.2,0.2"], "at most 4"),
        (["--lookahead-p", "0,0"], "not all 0"),
        (["--teacher-lookahead", "4"], "outside 0..3"),
    ],
)
def test_distill_refuses_lookaheads_it_cannot_draw(
    tiny_corpus: Path, tmp_path: Path, given: list[str], says: str
) -> None:
    teacher = tmp_path / "teacher"
    args = ["train", "motion", "--data", str(tiny_corpus), "--out", str(teacher), *TINY, "--threads", "1"]
    assert CliRunner().invoke(app, [*args, "--steps", "1"]).exit_code == 0
    result = CliRunner().invoke(
        app,
        [
            "distill",
            "motion",
            "--teacher",
            str(teacher),
            "--data",
            str(tiny_corpus),
            "--out",
            str(tmp_path / "s"),
            *given,
        ],
    )
    assert result.exit_code != 0 and says in " ".join(result.output.split())


def test_the_teacher_hears_at_least_its_lookahead() -> None:
    import torch

    from xactor.training.motion.data import Batch
    from xactor.training.motion.distill import teacher_view

    z = torch.zeros(3, 4)
    batch = Batch(z, z, z, z, torch.tensor([0, 1, 3]), z)
    assert teacher_view(batch, 0) is batch
    assert teacher_view(batch, 1).lookahead.tolist() == [1, 1, 3]
    assert batch.lookahead.tolist() == [0, 1, 3]  # the student's own L is untouched


def test_lookahead_probabilities_pad_to_every_lookahead() -> None:
    from xactor.training.motion.distill import lookahead_probabilities

    assert lookahead_probabilities(None, 3) is None
    assert lookahead_probabilities((0.5, 0.5), 3) == (0.5, 0.5, 0.0, 0.0)


def test_train_refuses_a_folder_that_is_not_a_corpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "motion", "--data", str(tmp_path), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code != 0 and "not a corpus" in " ".join(result.output.split())


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "xactor.cli.main",
        "train",
        "motion",
        "--data",
        str(tiny_corpus),
        "--out",
        str(run),
        "--steps",
        "2",
        *TINY,
        "--no-augment",
        "--threads",
        "2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env=env, cwd=Path(__file__).parents[3]
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    weights = load_weights(run, TEACHER)
    assert weights.record["world"] == 2 and weights.record["step"] == 2


def test_phone_classes_follow_the_corpus_phones() -> None:
    from xactor.training.motion.data import PHONE_CLASSES, phone_classes

    phones = [["sil", 0.0, 0.1, 0, -1], ["B", 0.1, 0.18, 0, 0], ["AA", 0.18, 0.3, 1, 0]]
    ids = phone_classes(phones, 9)  # frame centres 0.02, 0.06, 0.10, ... 0.34 s; spans [start, end)
    names = [PHONE_CLASSES[i] for i in ids]
    assert names == ["sil", "sil", "B", "B", "AA", "AA", "AA", "sil", "sil"]


def test_only_the_phone_loss_trains_the_phonetic_front_end(tiny_corpus: Path) -> None:
    """The recognizer learns phones, not motion (its posteriors are detached); the projection of
    the posteriors into the audio slots learns from the motion loss."""
    import torch

    from xactor.engines.motion_gen.config import MotionGenConfig
    from xactor.engines.motion_gen.model import MotionDenoiser
    from xactor.training.motion.data import PHONE_CLASSES, BatchSampler, fit_normalizer, load_split
    from xactor.training.motion.objective import ObjectiveConfig, channel_weights, diffusion_forcing_loss

    cfg = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, context=16, phones=len(PHONE_CLASSES))
    clips = load_split(tiny_corpus, "train")
    batch = BatchSampler(cfg, fit_normalizer(clips), clips, 16, seed=0).batch(2)
    assert batch.phones.shape == (2, 16) and int(batch.phones.max()) < len(PHONE_CLASSES)
    torch.manual_seed(0)
    model = MotionDenoiser(cfg)
    assert model.audio.phones is not None and model.audio.phone_in is not None
    for layer in (model.audio.phone_in, model.head):  # both start at zero; as after some training
        torch.nn.init.normal_(layer.weight, std=0.1)
    assert model.audio.phone_logits(batch.audio).shape == (2, 16, len(PHONE_CLASSES))
    grads = {}
    for weight in (0.0, 1.0):
        model.zero_grad()
        torch.manual_seed(1)
        diffusion_forcing_loss(
            model, model, batch, ObjectiveConfig(phone_weight=weight), channel_weights()
        ).backward()
        recognizer = model.audio.phones.net[0].weight.grad
        grads[weight] = (recognizer, model.audio.phone_in.weight.grad)
    assert grads[0.0][0] is None or not grads[0.0][0].any()  # motion loss alone: recognizer untouched
    assert grads[1.0][0] is not None and grads[1.0][0].abs().sum() > 0
    assert grads[0.0][1] is not None and grads[0.0][1].abs().sum() > 0


def test_clips_without_phone_alignment_are_left_out_of_the_phone_loss(tiny_corpus: Path) -> None:
    """Real-video clips (``phones_known: False``) carry no phones: their frames are ignored by the
    phone loss instead of being taught as silence; an all-unknown batch gives the recognizer nothing."""
    import dataclasses

    import torch

    from xactor.engines.motion_gen.config import MotionGenConfig
    from xactor.engines.motion_gen.model import MotionDenoiser
    from xactor.training.motion.data import (
        PHONE_CLASSES,
        UNKNOWN_PHONE,
        BatchSampler,
        ClipData,
        fit_normalizer,
        load_split,
    )
    from xactor.training.motion.objective import ObjectiveConfig, channel_weights, diffusion_forcing_loss

    cfg = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, context=16, phones=len(PHONE_CLASSES))
    unaligned = {"phone_ids": None, "phones_known": False}  # as a prepared real video is loaded
    clips = [
        ClipData(**{**{f.name: getattr(c, f.name) for f in dataclasses.fields(c)}, **unaligned})
        for c in load_split(tiny_corpus, "train")
    ]
    assert all((c.phone_ids == UNKNOWN_PHONE).all() for c in clips)
    batch = BatchSampler(cfg, fit_normalizer(clips), clips, 16, seed=0).batch(2)
    torch.manual_seed(0)
    model = MotionDenoiser(cfg)
    loss = diffusion_forcing_loss(model, model, batch, ObjectiveConfig(phone_weight=1.0), channel_weights())
    assert torch.isfinite(loss)
    loss.backward()
    assert model.audio.phones is not None
    grad = model.audio.phones.net[0].weight.grad
    assert grad is None or not grad.any()


def test_a_phonetic_front_end_added_to_trained_weights_starts_as_a_no_op() -> None:
    """Zero-initialised projection: a fine-tune that adds the front end begins at the old function."""
    import torch

    from xactor.engines.motion_gen.config import MotionGenConfig
    from xactor.engines.motion_gen.model import MotionDenoiser

    base = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, context=16)
    torch.manual_seed(0)
    old = MotionDenoiser(base)
    new = MotionDenoiser(MotionGenConfig(**{**base.__dict__, "phones": 12}))
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert (
        not unexpected
        and missing
        and all(k.startswith(("audio.phones.", "audio.phone_in.")) for k in missing)
    )
    audio = torch.randn(2, 5 + base.audio_window - 1, base.audio_dim)
    assert torch.equal(old.encode_audio(audio, 1), new.encode_audio(audio, 1))


def test_the_rollout_is_the_live_stream(tiny_corpus: Path) -> None:
    """The distillation's rollout of the student on its own past equals the live sampler streaming
    the same audio rows from the window's start (same noise, same emotion)."""
    import dataclasses

    import numpy as np
    import torch

    from tests.motion_weights import TINY
    from xactor.engines.motion_gen.model import MotionDenoiser
    from xactor.engines.motion_gen.sampler import Denoiser, StreamingGenerator
    from xactor.training.motion.data import BatchSampler, fit_normalizer, load_split
    from xactor.training.motion.distill import student_rollout

    clips = load_split(tiny_corpus, "train")
    torch.manual_seed(0)
    model = MotionDenoiser(TINY).eval()
    torch.nn.init.normal_(model.head.weight, std=0.3)
    batch = BatchSampler(TINY, fit_normalizer(clips), clips, 24, seed=0).batch(1)
    batch = dataclasses.replace(
        batch,
        lookahead=torch.tensor([2]),
        emotion=torch.full_like(batch.emotion, 3),
        intensity=torch.full_like(batch.intensity, 0.6),
    )
    rolled = student_rollout(model, batch, torch.Generator().manual_seed(7))
    live = StreamingGenerator(Denoiser(model), batch.audio[0, 0].numpy(), steps=1, seed=7, lookahead=2)
    live.set_emotion(3, 0.6)
    h = TINY.audio_history
    live.audio.clear()
    live.audio.extend(batch.audio[0, : h - 1])  # the window's own audio history, not silence
    frames = live.push(batch.audio[0, h - 1 : h - 1 + 24 + 2].numpy())
    np.testing.assert_allclose(np.stack(frames), rolled[0].numpy(), atol=1e-5)


def test_real_voice_recipe_two_corpora_weights_init_and_calibration(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """The stages that made the shipped weights, tiny: a fine-tune from *exported* weights with
    stream normalisation on two corpora, a student from an earlier student, then calibration."""
    runner = CliRunner()
    base = tmp_path / "base"
    common = [*TINY, "--threads", "1"]
    args = ["train", "motion", "--data", str(tiny_corpus), "--out", str(base), *common, "--stream-norm", "0"]
    assert runner.invoke(app, [*args, "--steps", "1"]).exit_code == 0
    assert load_weights(base, TEACHER).config.stream_norm_seconds == 0.0
    tuned = tmp_path / "tuned"
    result = runner.invoke(
        app,
        ["train", "motion", "--data", str(tiny_corpus), "--data", str(tiny_corpus), "--out", str(tuned),
         *common, "--steps", "1", "--init-from", str(base), "--stream-norm", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    teacher = load_weights(tuned, TEACHER)
    assert teacher.config.stream_norm_seconds == 3.0 and teacher.normalizer.mel_speech_mean is not None
    assert teacher.record["init"]["from"] == str(base)

    def distill(out: Path, *extra: str) -> None:
        result = runner.invoke(
            app,
            ["distill", "motion", "--teacher", str(tuned), "--data", str(tiny_corpus), "--out", str(out),
             "--steps", "1", "--batch", "2", "--frames", "16", "--teacher-steps", "2", "--no-augment",
             "--threads", "1", *extra],
        )  # fmt: skip
        assert result.exit_code == 0, result.output

    student, again = tmp_path / "student", tmp_path / "again"
    distill(student)
    distill(again, "--init-student", str(student))
    assert load_weights(again, STUDENT).record["distill"]["init_student"] == str(student)

    result = runner.invoke(
        app, ["train", "calibrate", "--weights", str(again), "--data", str(tiny_corpus), "--clips", "1",
              "--seconds", "4"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    calibrated = load_weights(again, STUDENT)
    assert calibrated.calibration is not None and "jawOpen" in calibrated.calibration.channels
    assert calibrated.lookahead_calibrations == {}

    def calibrate_at(lookahead: str) -> Any:
        return runner.invoke(
            app, ["train", "calibrate", "--weights", str(again), "--data", str(tiny_corpus), "--clips", "1",
                  "--seconds", "4", "--lookahead", lookahead]
        )  # fmt: skip

    result = calibrate_at("0")  # beside the default map, which stays
    assert result.exit_code == 0, result.output
    both = load_weights(again, STUDENT)
    assert set(both.lookahead_calibrations) == {0}
    assert both.calibration is not None
    assert np.array_equal(both.calibration.source, calibrated.calibration.source)
    assert both.record["lookahead_calibrations"]["0"]["lookahead"] == 0
    result = calibrate_at("9")
    assert result.exit_code != 0 and "outside 0..3" in " ".join(result.output.split())


def test_a_resumed_student_takes_its_teachers_phone_recognizer() -> None:
    """Distillation never trains the recognizer, so a student started from an earlier one must
    carry its new teacher's: everything else comes from the earlier student."""
    import torch

    from xactor.engines.motion_gen.config import MotionGenConfig
    from xactor.engines.motion_gen.model import MotionDenoiser
    from xactor.training.motion.distill import student_init_state

    cfg = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, phones=8, phone_hidden=16)
    torch.manual_seed(0)
    earlier, teacher = MotionDenoiser(cfg), MotionDenoiser(cfg)
    state = student_init_state(earlier, teacher)
    names = [n for n in state if n.startswith("audio.phones.")]
    assert names and all(torch.equal(state[n], teacher.state_dict()[n]) for n in names)
    others = [n for n in state if not n.startswith("audio.phones.")]
    assert all(torch.equal(state[n], earlier.state_dict()[n]) for n in others)
    assert not torch.equal(state["audio.inp.0.weight"], teacher.state_dict()["audio.inp.0.weight"])
