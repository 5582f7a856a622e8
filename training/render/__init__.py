"""The diffusion renderer's training: procedural pairs (warp prior → exact frame), the denoiser,
flow-matching training, few-step distillation and evaluation (docs/ARCHITECTURE.md §4)."""
