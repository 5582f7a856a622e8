"""GPU readiness in one run: parity, batched render throughput, TensorRT — one results table.

Run ``scripts/gpu_check.sh OUT_DIR`` (it prints the machine and calls this with a time limit), or
``python -m xactor.bench.gpu_check --out OUT_DIR [--cpu] [--quick]``. Writes ``gpu_check.md`` and
``gpu_check.json`` (the same results) into ``OUT_DIR``, after every section, so a run that is
stopped still leaves what it measured. Sections:

1. **Parity** — each learned stage on the device against the CPU fp32 result on the same inputs,
   fp32 and fp16 (autocast, as :class:`~engines.inference.TorchEngine` runs it): the motion
   generator's streaming step (the shipped weights, :func:`~engines.motion_gen.onnx_step.step_module`,
   rows of mixed ages), the warp renderer (the default avatar, random motion as its ONNX export is
   checked on) and the diffusion renderer's denoising step (the shipped student, random inputs).
2. **Render throughput** — the warp renderer as the render worker batches it
   (``RenderWorker._render_batch``: motion ``[B, 40]`` float32 in, frames ``[B, S, S, 3]`` uint8
   out, host to host), fp16 with one CUDA graph per batch size, at 256 and 512 px and batch 1–32:
   ms a batch, ms a frame, frames/s and the sessions at 25 fps that the renderer alone allows.
3. **TensorRT** — plans for both stages (and the diffusion step) built with the project's own
   builder (:func:`~engines.tensorrt_engine.build_plan`, from the graphs ``xactor export`` writes),
   timed and checked against CPU fp32; where ``tensorrt`` does not import, the reason. In CPU mode
   ONNX Runtime's CPU provider runs the same graphs instead.
4. **Training burst** — the motion generator's two training steps on the device
   (:mod:`~bench.gpu_training`): the teacher's diffusion-forcing step and the distillation step with
   its rollout, on a synthetic batch of the recipe's shape, ms a step and windows a second (a CPU
   step beside them on a GPU), and the distillation loss against the CPU's on the same batch and
   noise (a parity row: relative difference ≤ 1e-3).

Without CUDA (or with ``--cpu``) the same steps run on the CPU backends: torch fp32 for the
timings, fp16 parity through CPU autocast (the same dtype and code path, slowly), CUDA graphs n/a.
``--quick`` (the CPU default) shrinks everything so the run takes a minute or two on a small CPU.

Exit status: 0 when every parity row passes and no section failed, 1 otherwise; a missing
TensorRT is reported, never a failure.
"""

from __future__ import annotations

import argparse
import copy
import functools
import itertools
import json
import logging
import math
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xactor.bench.render import machine, timed
from xactor.engines import timebase
from xactor.engines.diffusion.model import RenderDenoiser

log = logging.getLogger(__name__)

# Pass/fail thresholds against the CPU fp32 result on the same inputs.
#
# Frames (uint8, both renderers): PSNR over the whole batch. fp32 on another device differs only
# by the order of float operations (reductions, fused multiply-adds, the Newton inverse of the
# warp): a few isolated pixels one or two levels apart, far above 50 dB. fp16 (autocast) keeps the
# warp's pixel coordinates in half precision for part of the way (spacing 0.125 px at 256 px,
# 0.25 px at 512 px): measured on the CPU through autocast, 55-56 dB, with a few pixels on
# sharp edges (lip line, mouth interior's alpha) off by up to 40-80 levels, so the max abs error is
# reported but not the criterion; 40 dB is the level of a good video encode's own loss (the WebRTC
# encoder downstream changes each frame by far more). The max abs error is printed for both.
FRAME_PSNR_DB = {"fp32": 50.0, "fp16": 40.0}
# Motion (absolute coefficients, engines.motion_space units: blendshapes 0..1, pose in radians):
# fp32 ≤ 1e-3 (float reordering only; measured 0 on CPU); fp16 ≤ 0.02, 2 % of a blendshape's range,
# a fraction of a pixel of lip travel at 512 px (measured 0.006-0.008 through CPU autocast for the
# student and the 8-step guided teacher). One step: a live session feeds its KV cache back, so
# drift over many steps is what a soak on the device would show, not this check.
MOTION_MAX_ABS = {"fp32": 1e-3, "fp16": 2e-2}

SECTIONS = ("parity", "throughput", "accelerated", "training")


@dataclass(frozen=True)
class CheckConfig:
    device: str = "cuda"  # "cuda" or "cpu"
    quick: bool = False
    precisions: tuple[str, ...] = ("fp32", "fp16")
    parity_sizes: tuple[int, ...] = (256, 512)
    parity_batch: int = 4
    motion_weights: tuple[str, ...] = ("motion_student", "motion_teacher")
    weights_dir: Path | None = None  # motion weights (default: the shipped ones)
    diffusion: bool = True
    sizes: tuple[int, ...] = (256, 512)
    batches: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    throughput_precision: str = "fp16"
    iters: int = 30
    warmup: int = 3
    accelerated: bool = True
    accel_warp: tuple[tuple[int, int], ...] = ((256, 1), (256, 8), (512, 8))  # (size, batch) plans
    accel_batches: tuple[int, ...] = (1, 4, 16)  # motion and diffusion step batches timed
    training: bool = True
    train_batch: int = 8  # windows a training step (the recipe's)
    train_frames: int = 128
    train_iters: int = 5
    # No new slow item (a throughput row, a plan build) starts past this: the shell script stops
    # the run at 450 s, and a TensorRT build of the warp graph may take a minute or two.
    budget_s: float = 330.0
    why_cpu: str = ""  # in the header when device is cpu

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"


def default_config(cpu: bool = False, quick: bool | None = None, why_cpu: str = "") -> CheckConfig:
    """The full GPU check, or the CPU dry run (quick unless ``quick=False``)."""
    if not cpu:
        cfg = CheckConfig()
        return replace(cfg, **_QUICK_GPU) if quick else cfg
    cfg = CheckConfig(device="cpu", throughput_precision="fp32", why_cpu=why_cpu)
    if quick is False:
        return replace(cfg, batches=(1, 2, 4, 8), iters=10)
    return replace(cfg, **_QUICK_CPU)


_QUICK_GPU: dict[str, Any] = dict(quick=True, iters=10, accel_warp=((256, 1), (256, 8)), accel_batches=(1, 4))
_QUICK_CPU: dict[str, Any] = dict(
    quick=True,
    parity_sizes=(256,),
    parity_batch=2,
    motion_weights=("motion_student",),
    sizes=(256,),
    batches=(1, 2, 4, 8),
    iters=5,
    warmup=2,
    accel_warp=((256, 1), (256, 4)),
    accel_batches=(1, 4),
    budget_s=150.0,
    train_batch=2,
    train_frames=32,
    train_iters=2,
)


# ---------------------------------------------------------------------------------------------
# Measures


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (inf when equal)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def frame_errors(frames: np.ndarray, reference: np.ndarray, precision: str) -> dict[str, Any]:
    diff = np.abs(frames.astype(np.int16) - reference.astype(np.int16))
    value = psnr(frames, reference)
    return {
        "max_abs": int(diff.max()),
        "p999_abs": float(np.percentile(diff, 99.9)),
        "psnr_db": value,
        "threshold": f"PSNR ≥ {FRAME_PSNR_DB[precision]:g} dB",
        "passed": bool(value >= FRAME_PSNR_DB[precision]),
    }


def to_u8(frames: torch.Tensor) -> torch.Tensor:
    """[B, 3, S, S] in [0, 1] → uint8 [B, S, S, 3], exactly as :meth:`AvatarRenderer.render` rounds."""
    return frames.permute(0, 2, 3, 1).mul(255.0).add(0.5).clamp(0, 255).to(torch.uint8)


class U8Frames(nn.Module):
    """A warp runner whose output is the worker's uint8 frames: converted on the device, so only
    a quarter of the bytes cross back to the host (and the conversion is inside the CUDA graph)."""

    def __init__(self, runner: nn.Module) -> None:
        super().__init__()
        self.runner = runner

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        return to_u8(self.runner(motion).float())


def trace_on(module: nn.Module, batch: int, device: torch.device) -> tuple[nn.Module, str]:
    """What :class:`~engines.warp.renderer.TorchRunner` does, on ``device``: a frozen TorchScript
    trace per batch size (list indices in the warp become device constants, which CUDA graph
    capture needs: an index list in eager mode is a host-to-device copy each call); the eager
    module where tracing fails."""
    import warnings

    from xactor.engines.warp.module import probe_motion

    probe = probe_motion(batch).to(device)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.freeze(torch.jit.trace(module, (probe,), check_trace=False).eval())
            error = float((traced(probe) - module(probe)).abs().max())
        if error > 1e-4:
            return module, f"trace differs from eager by {error:.1e}; eager"
        return traced, "traced"
    except Exception as exc:
        return module, f"trace failed ({_short(exc)}); eager"


def _short(exc: BaseException, limit: int = 160) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# The run


class Check:
    """One run of the check: its configuration, results so far and the files it writes."""

    def __init__(self, cfg: CheckConfig, out_dir: Path | None) -> None:
        self.cfg = cfg
        self.out_dir = out_dir
        self.device = torch.device(cfg.device)
        self.start = time.perf_counter()
        self.result: dict[str, Any] = {
            "header": header(cfg),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
            **{s: {"rows": [], "notes": [], "status": "not reached"} for s in SECTIONS},
        }
        self._tmp = tempfile.TemporaryDirectory(prefix="gpu_check_")
        self.tmp = Path(self._tmp.name)
        self._bundle: Any = None
        self._renderers: dict[int, Any] = {}

    # ---- helpers

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over_budget(self) -> bool:
        return self.elapsed() > self.cfg.budget_s

    def note(self, section: str, text: str) -> None:
        self.result[section]["notes"].append(text)
        log.info("%s: %s", section, text)

    def row(self, section: str, **values: Any) -> None:
        self.result[section]["rows"].append(values)
        log.info("%s: %s", section, values)

    def accelerated_row(
        self,
        stage: str,
        backend: str,
        precision: str,
        graph: str,
        timing: tuple[float | None, float, int, float],
        error: str,
        note: str = "",
    ) -> None:
        """One timed row of the accelerated section; ``timing``: (build s, export s, batch, s a call)."""
        build_s, export_s, batch, seconds = timing
        self.row(
            "accelerated",
            stage=stage,
            backend=backend,
            precision=precision,
            graph=graph,
            build_s=build_s,
            export_s=export_s,
            batch=batch,
            ms_call=seconds * 1000,
            ms_each=seconds * 1000 / batch,
            error=error,
            note=note,
        )

    def bundle(self) -> Any:
        """The default avatar (a procedural one where it cannot be prepared here)."""
        if self._bundle is None:
            from xactor.engines.avatar.store import AvatarStore

            try:
                self._bundle = AvatarStore(self.tmp / "avatars").ensure_default()
                self.result["header"]["avatar"] = "default (astronaut portrait)"
            except Exception as exc:
                from xactor.engines.procedural.avatar import TEST_SEED_BASE, add_procedural

                store = AvatarStore(self.tmp / "procedural", with_default=False)
                self._bundle, _ = add_procedural(store, TEST_SEED_BASE)
                self.result["header"]["avatar"] = f"procedural (the default failed: {_short(exc)})"
        return self._bundle

    def renderer(self, size: int) -> Any:
        """The CPU warp renderer at ``size`` (the reference; its module is copied to the device)."""
        if size not in self._renderers:
            from xactor.engines.warp import AvatarRenderer

            self._renderers[size] = AvatarRenderer.from_bundle(self.bundle(), size=size)
        return self._renderers[size]

    def device_warp(self, size: int, batch: int, precision: str, graphs: bool) -> tuple[Any, str]:
        """The warp renderer on the device as the throughput rows run it: the module's copy on the
        device, traced at ``batch``, uint8 out, through :class:`TorchEngine` (autocast for fp16, a
        CUDA graph per batch when ``graphs``). Tried in order: traced + graph, eager + graph,
        traced without a graph; the label says which ran and why the others did not."""
        from xactor.engines.inference import TorchEngine

        module = copy.deepcopy(self.renderer(size).module).to(self.device)
        traced, how = trace_on(module, batch, self.device)
        probe = np.zeros((batch, 40), np.float32)
        attempts: list[tuple[nn.Module, str, bool]] = [(traced, how, graphs)]
        if graphs:
            if how == "traced":
                attempts.append((module, "eager", True))
            attempts.append((traced, how, False))
        failures = []
        for runner, label, use_graphs in attempts:
            engine = TorchEngine(
                U8Frames(runner), ("motion",), ("frames",), self.device, precision, cuda_graphs=use_graphs
            )
            try:
                engine({"motion": probe})  # captures the graph
            except Exception as exc:
                failures.append(f"{label}{' + CUDA graph' if use_graphs else ''}: {_short(exc, 120)}")
                if self.cfg.cuda:  # a failed capture may leave an error pending on the device
                    try:
                        torch.cuda.synchronize()
                    except Exception as pending:
                        failures.append(f"then: {_short(pending, 80)}")
                continue
            text = label + (" + CUDA graph" if use_graphs else "")
            return engine, "; ".join([text, *(f"failed: {f}" for f in failures)])
        raise RuntimeError("; ".join(failures))

    def save(self, status: str = "running") -> None:
        self.result["header"]["status"] = status
        self.result["header"]["took_s"] = round(self.elapsed(), 1)
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "gpu_check.json").write_text(json.dumps(self.result, indent=1, default=_json))
        (self.out_dir / "gpu_check.md").write_text(markdown(self.result))

    def section(self, name: str, run: Callable[[], None]) -> None:
        self.result[name]["status"] = "running"
        self.save(f"running section {name}")
        try:
            run()
            self.result[name]["status"] = "done"
        except Exception as exc:
            log.error("section %s failed", name, exc_info=exc)
            self.result[name]["status"] = f"failed: {_short(exc, 300)}"
            self.result[name]["traceback"] = traceback.format_exc(limit=8)
        self.save(f"after section {name}")

    def run(self) -> dict[str, Any]:
        self.section("parity", self.parity)
        self.section("throughput", self.throughput)
        self.section("accelerated", self.accelerated)
        if self.cfg.training and not self.over_budget():
            self.section("training", self.training)
        else:
            self.result["training"]["status"] = "skipped"
            why = "over the time budget" if self.cfg.training else "turned off"
            self.note("training", f"not run: {why}")
        parity = self.result["parity"]["rows"]
        failed = [s for s in SECTIONS if self.result[s]["status"].startswith("failed")]
        finite = all(r["finite"] for r in self.result["training"]["rows"])
        passed = bool(parity) and all(r["passed"] for r in parity) and not failed and finite
        self.result["header"]["verdict"] = "PASS" if passed else "FAIL"
        self.save("complete")
        self._tmp.cleanup()
        return self.result

    # ---- 4. training burst

    def training(self) -> None:
        from xactor.bench.gpu_training import BurstConfig, burst, loss_parity
        from xactor.engines.motion_gen.weights import SHIPPED_DIR, TEACHER, load_weights

        folder = self.cfg.weights_dir or SHIPPED_DIR
        teacher = load_weights(folder, TEACHER).model
        cfg = BurstConfig(
            batch=self.cfg.train_batch,
            frames=self.cfg.train_frames,
            iters=self.cfg.train_iters,
            warmup=min(self.cfg.warmup, 2),
        )
        self.note("training", f"the shipped teacher's architecture ({folder.name}), fp32, synthetic batches")
        for row in burst(teacher, self.device, cfg):
            self.row("training", **row)
        parity = loss_parity(teacher, self.device, cfg)
        self.row(
            "parity",
            stage="distillation loss",
            input=f"student = teacher, batch {parity['batch']}, same noise",
            precision="fp32",
            runner=f"torch on {self.device.type}",
            max_abs=abs(parity["device"] - parity["cpu"]),
            p999_abs=None,
            psnr_db=None,
            threshold=f"relative ≤ {cfg.loss_rtol:g}",
            passed=parity["passed"],
            note=f"loss {parity['device']:.5f} here, {parity['cpu']:.5f} on the CPU",
        )

    # ---- 1. parity

    def parity(self) -> None:
        precisions = self.cfg.precisions
        if not self.cfg.cuda:
            self.note(
                "parity",
                "CPU mode: the 'device' is the CPU; fp16 runs through CPU autocast (slow, same dtype)",
            )
            self._parity_all(precisions)
            return
        # fp32 means fp32 here (as the TensorRT builder's strict fp32): TF32 convolutions and matrix
        # products would make the fp32 rows an fp16-like comparison. Restored afterwards.
        self.note("parity", "TF32 off during parity (cuDNN and matmul): the fp32 rows are strict fp32")
        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        try:
            self._parity_all(precisions)
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved

    def _parity_all(self, precisions: tuple[str, ...]) -> None:
        self._parity_motion(precisions)
        self._parity_warp(precisions)
        if self.cfg.diffusion:
            self._parity_diffusion(precisions)

    def _parity_motion(self, precisions: tuple[str, ...]) -> None:
        from xactor.engines.inference import TorchEngine
        from xactor.engines.motion_gen.onnx_step import sample_inputs, step_module
        from xactor.engines.motion_gen.step import INPUTS, OUTPUTS
        from xactor.engines.motion_gen.weights import SHIPPED_DIR, load_weights

        folder = self.cfg.weights_dir or SHIPPED_DIR
        for name in self.cfg.motion_weights:
            if not (folder / f"{name}.safetensors").is_file():
                self.note("parity", f"{name}: no weights in {folder}")
                continue
            weights = load_weights(folder, name)
            step = step_module(weights)
            batch = self.cfg.parity_batch
            feeds = {k: v.numpy() for k, v in sample_inputs(step, batch).items()}
            reference = TorchEngine(step, INPUTS, OUTPUTS)(feeds)
            ref_motion = weights.absolute(reference["motion"])
            for precision in precisions:
                engine = TorchEngine(
                    copy.deepcopy(step), INPUTS, OUTPUTS, self.device, precision, cuda_graphs=self.cfg.cuda
                )
                out = engine(feeds)
                error = float(np.abs(weights.absolute(out["motion"]) - ref_motion).max())
                state = max(
                    float(np.abs(out[k] - reference[k]).max())
                    for k in ("cache_k_out", "cache_v_out", "ride_x_out")
                )
                s = weights.sampler
                steps = f"{s.steps} step" + ("s" if s.steps > 1 else "")
                self.row(
                    "parity",
                    stage="motion step",
                    input=f"{name.removeprefix('motion_')} ({steps}), batch {batch}",
                    precision=precision,
                    runner="torch" + (" + CUDA graph" if self.cfg.cuda else ""),
                    max_abs=error,
                    p999_abs=None,
                    psnr_db=None,
                    threshold=f"max abs ≤ {MOTION_MAX_ABS[precision]:g}",
                    passed=bool(error <= MOTION_MAX_ABS[precision]),
                    note=f"KV cache / ride-along out max abs {state:.1e}",
                )

    def _parity_warp(self, precisions: tuple[str, ...]) -> None:
        from xactor.export.onnx_warp import sample_motion

        batch = self.cfg.parity_batch
        motion = sample_motion(batch).numpy()
        for size in self.cfg.parity_sizes:
            reference = self.renderer(size).render(motion)  # the CPU fp32 path the server runs
            for precision in precisions:
                engine, how = self.device_warp(size, batch, precision, graphs=self.cfg.cuda)
                frames = engine({"motion": motion})["frames"]
                self.row(
                    "parity",
                    stage="warp renderer",
                    input=f"{size} px, batch {batch}, random motion",
                    precision=precision,
                    runner=how,
                    note="",
                    **frame_errors(frames, reference, precision),
                )

    def _parity_diffusion(self, precisions: tuple[str, ...]) -> None:
        from xactor.engines.diffusion.model import frames_from, to_images
        from xactor.engines.diffusion.onnx_graphs import _Step
        from xactor.engines.diffusion.weights import SHIPPED_DIR, STUDENT, load_render_weights
        from xactor.engines.inference import TorchEngine

        if not (SHIPPED_DIR / f"{STUDENT}.safetensors").is_file():
            self.note("parity", "diffusion renderer: no shipped weights")
            return
        model, steps, meta = load_render_weights(SHIPPED_DIR, STUDENT)
        size, batch = int(meta.get("size", 128)), self.cfg.parity_batch
        feeds = diffusion_inputs(model, size, batch)
        names = tuple(feeds)
        prior = torch.from_numpy(feeds["prior"])

        def frames(clean: np.ndarray) -> np.ndarray:  # one step from t = 1 lands on the estimate
            return to_images(frames_from(prior, torch.from_numpy(clean), model.cfg))

        reference = frames(TorchEngine(_Step(model), names, ("clean",))(feeds)["clean"])
        for precision in precisions:
            engine = TorchEngine(
                _Step(copy.deepcopy(model)),
                names,
                ("clean",),
                self.device,
                precision,
                cuda_graphs=self.cfg.cuda,
            )
            self.row(
                "parity",
                stage="diffusion step",
                input=f"student, {size} px, batch {batch}, random inputs",
                precision=precision,
                runner="torch" + (" + CUDA graph" if self.cfg.cuda else ""),
                note=f"{steps} step(s) per frame live",
                **frame_errors(frames(engine(feeds)["clean"]), reference, precision),
            )

    # ---- 2. throughput

    def throughput(self) -> None:
        from xactor.engines.offline.demo import demo_motion

        cfg = self.cfg
        precision = cfg.throughput_precision
        if not cfg.cuda:
            self.note(
                "throughput",
                "CPU mode: torch fp32 (what a CPU server runs; fp16 is slower on a CPU), CUDA graphs n/a",
            )
        motion = demo_motion(8.0)  # 200 frames of visemes, blinks, head turns
        for size in cfg.sizes:
            for batch in cfg.batches:
                if self.over_budget():
                    self.note(
                        "throughput", f"{size} px batch {batch}: skipped (time budget {cfg.budget_s:g} s)"
                    )
                    continue
                chunks = [motion[i : i + batch] for i in range(0, len(motion) - batch + 1, batch)]
                chunks = chunks or [np.resize(motion, (batch, motion.shape[1]))]
                engine, how = self.device_warp(size, batch, precision, graphs=cfg.cuda)

                def call(
                    engine: Any = engine, chunks: list[np.ndarray] = chunks, calls: Any = itertools.count()
                ) -> object:
                    return engine({"motion": chunks[next(calls) % len(chunks)]})["frames"]

                seconds = timed(call, cfg.iters, cfg.warmup)
                fps = batch / seconds
                self.row(
                    "throughput",
                    size=size,
                    batch=batch,
                    precision=precision,
                    runner=how,
                    ms_batch=seconds * 1000,
                    ms_frame=seconds * 1000 / batch,
                    fps=fps,
                    sessions=int(fps // timebase.FPS),
                    fits_tick=bool(seconds <= timebase.FRAME_SECONDS),
                )
                del engine
                if cfg.cuda:
                    torch.cuda.empty_cache()

    # ---- 3. TensorRT (ONNX Runtime on CPU)

    def accelerated(self) -> None:
        from xactor.engines.tensorrt_engine import unavailable_reason

        if not self.cfg.accelerated:
            self.note("accelerated", "not run (disabled)")
            return
        if self.cfg.cuda:
            reason = unavailable_reason()
            self.result["header"]["tensorrt"] = reason or _trt_version()
            if reason:
                self.note("accelerated", f"TensorRT: {reason}")
                self.row("accelerated", stage="all", backend="tensorrt", note=f"not run: {reason}")
                return
            backend = "tensorrt"
        else:
            backend = "onnxruntime"
            self.note(
                "accelerated",
                "CPU mode: ONNX Runtime (CPUExecutionProvider) on the graphs TensorRT would build",
            )
        for label, run in (
            ("motion step", self._accel_motion),
            ("warp renderer", self._accel_warp),
            ("diffusion step", self._accel_diffusion if self.cfg.diffusion else None),
        ):
            if run is None:
                continue
            try:
                run(backend)
            except Exception as exc:
                log.error("%s on %s failed", label, backend, exc_info=exc)
                self.row("accelerated", stage=label, backend=backend, note=f"failed: {_short(exc, 300)}")

    def _engine(
        self, backend: str, onnx_file: Path, info: dict[str, Any], profile: tuple[int, int, int]
    ) -> tuple[Any, float, str]:
        """(engine, build seconds, precision) of an exported graph on ``backend``."""
        t0 = time.perf_counter()
        if backend == "onnxruntime":
            from xactor.engines.inference import OrtEngine

            engine: Any = OrtEngine(onnx_file, providers=("CPUExecutionProvider",))
            return engine, time.perf_counter() - t0, "fp32"
        from xactor.engines.tensorrt_engine import BatchProfile, TrtEngine, build_plan

        plan = build_plan(onnx_file, info, self.tmp / "plans", "fp16", BatchProfile(*profile))
        engine = TrtEngine(plan, info, profile[2])
        return engine, time.perf_counter() - t0, "fp16"

    def _accel_motion(self, backend: str) -> None:
        from xactor.engines.inference import TorchEngine
        from xactor.engines.motion_gen.onnx_step import export_step, sample_inputs, step_module
        from xactor.engines.motion_gen.runtime import TRT_PROFILE, steady_feeds
        from xactor.engines.motion_gen.step import INPUTS, OUTPUTS
        from xactor.engines.motion_gen.weights import SHIPPED_DIR, load_weights
        from xactor.engines.motion_source.generator import weights_name
        from xactor.engines.onnx_io import manifest

        folder = self.cfg.weights_dir or SHIPPED_DIR
        name = weights_name(folder)
        weights = load_weights(folder, name)
        step = step_module(weights)
        onnx_file = self.tmp / "motion_step.onnx"
        t0 = time.perf_counter()
        export_step(weights, onnx_file)
        export_s = time.perf_counter() - t0
        info = manifest(onnx_file, "motion_step", (), 0.0, axes={"batch": 1, "rows": step.branches})
        profile = (TRT_PROFILE.min, TRT_PROFILE.opt, TRT_PROFILE.max)
        engine, build_s, precision = self._engine(backend, onnx_file, info, profile)
        feeds = {k: v.numpy() for k, v in sample_inputs(step, self.cfg.parity_batch).items()}
        reference = weights.absolute(TorchEngine(step, INPUTS, OUTPUTS)(feeds)["motion"])
        error = float(np.abs(weights.absolute(engine(feeds)["motion"]) - reference).max())
        rng = np.random.default_rng(0)
        for batch in self.cfg.accel_batches:
            steady = steady_feeds(weights.config, step.state_shapes(batch), rng)
            seconds = timed(functools.partial(engine, steady), self.cfg.iters, self.cfg.warmup)
            graph = f"{name}, batch {profile[0]}-{profile[2]}"
            timing = (build_s, export_s, batch, seconds)
            error_text = f"max abs {error:.1e} (batch {self.cfg.parity_batch})"
            self.accelerated_row("motion step", backend, precision, graph, timing, error_text)

    def _accel_warp(self, backend: str) -> None:
        from xactor.engines.onnx_io import manifest
        from xactor.export.onnx_warp import export_warp, sample_motion

        for size, batch in self.cfg.accel_warp:
            if self.over_budget():
                self.note("accelerated", f"warp {size} px batch {batch}: skipped (time budget)")
                continue
            renderer = self.renderer(size)
            onnx_file = self.tmp / f"warp_{size}_b{batch}.onnx"
            t0 = time.perf_counter()
            export_warp(renderer.module, onnx_file, batch=batch)
            export_s = time.perf_counter() - t0
            info = manifest(onnx_file, "warp_renderer", (), 0.0)
            engine, build_s, precision = self._engine(backend, onnx_file, info, (batch, batch, batch))
            motion = sample_motion(batch).numpy()

            def frames(m: np.ndarray, engine: Any = engine) -> np.ndarray:
                return to_u8(torch.from_numpy(engine({"motion": m})["frames"])).numpy()

            errors = frame_errors(frames(motion), renderer.render(motion), precision)
            seconds = timed(functools.partial(frames, motion), self.cfg.iters, self.cfg.warmup)
            graph = f"{size} px, batch {batch} (static)"
            timing = (build_s, export_s, batch, seconds)
            self.accelerated_row("warp renderer", backend, precision, graph, timing, *frame_verdict(errors))

    def _accel_diffusion(self, backend: str) -> None:
        from xactor.engines.diffusion.model import frames_from, to_images
        from xactor.engines.diffusion.onnx_graphs import _Step, export_step
        from xactor.engines.diffusion.weights import SHIPPED_DIR, STUDENT, load_render_weights
        from xactor.engines.inference import TorchEngine
        from xactor.engines.onnx_io import manifest

        if self.over_budget():
            self.note("accelerated", "diffusion step: skipped (time budget)")
            return
        model, _, meta = load_render_weights(SHIPPED_DIR, STUDENT)
        size = int(meta.get("size", 128))
        onnx_file = self.tmp / "render_step.onnx"
        t0 = time.perf_counter()
        export_step(model, size, onnx_file)
        export_s = time.perf_counter() - t0
        info = manifest(onnx_file, "render_step", (), 0.0, axes={"batch": 1})
        engine, build_s, precision = self._engine(backend, onnx_file, info, (1, 4, 16))
        feeds = diffusion_inputs(model, size, self.cfg.parity_batch)
        prior = torch.from_numpy(feeds["prior"])
        reference = TorchEngine(_Step(model), tuple(feeds), ("clean",))(feeds)["clean"]
        errors = frame_errors(
            to_images(frames_from(prior, torch.from_numpy(engine(feeds)["clean"]), model.cfg)),
            to_images(frames_from(prior, torch.from_numpy(reference), model.cfg)),
            precision,
        )
        for batch in self.cfg.accel_batches:
            timing_feeds = diffusion_inputs(model, size, batch)
            seconds = timed(functools.partial(engine, timing_feeds), self.cfg.iters, self.cfg.warmup)
            graph = f"student, {size} px, batch 1-16"
            timing = (build_s, export_s, batch, seconds)
            self.accelerated_row("diffusion step", backend, precision, graph, timing, *frame_verdict(errors))


def frame_verdict(errors: dict[str, Any]) -> tuple[str, str]:
    """A frame comparison's error text and note for an accelerated row."""
    text = f"PSNR {errors['psnr_db']:.1f} dB, max abs {errors['max_abs']}"
    return text, "" if errors["passed"] else f"below {errors['threshold']}"


def diffusion_inputs(model: RenderDenoiser, size: int, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The denoising step's inputs at t = 1 (the student's one step): a random prior image in
    [-1, 1], its reference features, noise, a random landmark map."""
    gen = torch.Generator().manual_seed(seed)
    prior = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
    with torch.no_grad():
        feats = model.encode_reference(prior.flip(0))
    feeds = {
        "x_t": torch.randn(batch, 3, size, size, generator=gen),
        "t": torch.ones(batch),
        "prior": prior,
        "lmap": torch.rand(batch, 1, size, size, generator=gen),
        **{f"ref{i}": f for i, f in enumerate(feats)},
    }
    return {k: v.contiguous().numpy() for k, v in feeds.items()}


def _trt_version() -> str:
    try:
        import tensorrt

        return f"TensorRT {tensorrt.__version__}"
    except ImportError as exc:  # pragma: no cover - unavailable_reason said it imports
        return f"not importable: {exc}"


def header(cfg: CheckConfig) -> dict[str, Any]:
    """What ran where: mode, device, versions."""
    info: dict[str, Any] = {
        "mode": "cuda" if cfg.cuda else f"cpu ({cfg.why_cpu or 'asked for'})",
        "quick": cfg.quick,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu": machine(),
    }
    if cfg.cuda:
        props = torch.cuda.get_device_properties(0)
        major, minor = torch.cuda.get_device_capability(0)
        info["device"] = f"{props.name}, sm_{major}{minor}, {props.total_memory / 2**30:.0f} GiB"
        info["cudnn"] = torch.backends.cudnn.version()
    else:
        info["device"] = "cpu"
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError as exc:
        info["onnxruntime"] = f"not importable: {exc}"
    try:
        import tensorrt

        info["tensorrt"] = f"TensorRT {tensorrt.__version__}"
    except ImportError as exc:
        info["tensorrt"] = f"not importable: {exc}"
    return info


def _json(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


# ---------------------------------------------------------------------------------------------
# The table


def _num(value: Any, digits: int = 2, sci: bool = False) -> str:
    """A table cell: "–" for none, "∞", fixed ``digits``; small errors (``sci``) as 1.2e-04."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        if sci and value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value)


def _table(columns: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def markdown(result: dict[str, Any]) -> str:
    """The results as one Markdown document: the header, then one table per section."""
    h = result["header"]
    accel = "TensorRT" if h["mode"] == "cuda" else "ONNX Runtime CPU (TensorRT's stand-in)"
    lines = [
        "# xactor GPU check",
        "",
        f"- **verdict: {h.get('verdict', 'incomplete')}** ({h.get('status', '')}, {h.get('took_s', '?')} s)",
        f"- mode: {h['mode']}{', quick' if h['quick'] else ''}",
        f"- device: {h['device']}; CPU: {h['cpu']}",
        f"- python {h['python']}, torch {h['torch']}, CUDA {h['cuda'] or 'none'}"
        + (f", cuDNN {h['cudnn']}" if h.get("cudnn") else "")
        + f", onnxruntime {h['onnxruntime']}",
        f"- tensorrt: {h['tensorrt']}",
        f"- avatar: {h.get('avatar', '–')}",
        "",
    ]

    def notes(section: str) -> list[str]:
        s = result[section]
        out = [f"Status: {s['status']}."] if s["status"] != "done" else []
        return [*out, *(f"- {n}" for n in s["notes"])]

    lines += ["## 1. Parity against CPU fp32 (same inputs)", "", *notes("parity"), ""]
    rows = [
        [
            r["stage"],
            r["input"],
            r["precision"],
            r["runner"],
            _num(r["max_abs"], 3, sci=True),
            _num(r["p999_abs"], 1),
            _num(r["psnr_db"], 1),
            r["threshold"],
            "pass" if r["passed"] else "**FAIL**",
            r["note"] or "",
        ]
        for r in result["parity"]["rows"]
    ]
    columns = ["stage", "input", "precision", "runner", "max abs", "p99.9 abs", "PSNR dB", "threshold"]
    lines += [*_table([*columns, "result", "note"], rows), ""]

    lines += ["## 2. Warp renderer throughput, batched as the render worker calls it", ""]
    lines += [*notes("throughput"), ""]
    rows = [
        [
            str(r["size"]),
            str(r["batch"]),
            r["precision"],
            r["runner"],
            _num(r["ms_batch"]),
            _num(r["ms_frame"]),
            _num(r["fps"], 0),
            str(r["sessions"]),
            "yes" if r["fits_tick"] else "no",
        ]
        for r in result["throughput"]["rows"]
    ]
    columns = ["px", "batch", "precision", "runner", "ms / batch", "ms / frame", "frames/s"]
    lines += [*_table([*columns, f"sessions at {timebase.FPS} fps", "batch ≤ 1 tick"], rows), ""]

    lines += [f"## 3. {accel}", "", *notes("accelerated"), ""]
    rows = [
        [
            r["stage"],
            r["backend"],
            r.get("precision", "–"),
            r.get("graph", "–"),
            _num(r.get("export_s"), 1),
            _num(r.get("build_s"), 1),
            str(r.get("batch", "–")),
            _num(r.get("ms_call")),
            _num(r.get("ms_each")),
            r.get("error", "–"),
            r.get("note", ""),
        ]
        for r in result["accelerated"]["rows"]
    ]
    columns = ["stage", "backend", "precision", "graph", "export s", "build s", "batch", "ms / call"]
    lines += [*_table([*columns, "ms / frame or session", "vs CPU fp32", "note"], rows), ""]

    lines += ["## 4. Training burst", "", *notes("training"), ""]
    rows = [
        [
            r["stage"],
            r["device"],
            r["batch"],
            _num(r["ms_step"]),
            _num(r["windows_s"], 1),
            _num(r["loss"], 4),
            "yes" if r["finite"] else "**NO**",
        ]
        for r in result["training"]["rows"]
    ]
    columns = ["step", "device", "windows", "ms / step", "windows / s", "loss", "finite"]
    lines += [*_table(columns, rows), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for gpu_check.md and gpu_check.json.")
    parser.add_argument(
        "--cpu", action="store_true", help="Run on the CPU backends even where CUDA is present."
    )
    quick = parser.add_mutually_exclusive_group()
    quick.add_argument("--quick", dest="quick", action="store_true", default=None, help="Small settings.")
    quick.add_argument("--full", dest="quick", action="store_false", help="Full settings on the CPU too.")
    parser.add_argument("--budget", type=float, default=None, help="Seconds after which no slow item starts.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.cpu:
        cpu, why = True, "--cpu"
    else:
        cpu, why = not torch.cuda.is_available(), "no CUDA device: torch.cuda.is_available() is False"
    cfg = default_config(cpu=cpu, quick=args.quick, why_cpu=why)
    if args.budget is not None:
        cfg = replace(cfg, budget_s=args.budget)
    result = Check(cfg, args.out).run()
    print(markdown(result))
    return 0 if result["header"]["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
