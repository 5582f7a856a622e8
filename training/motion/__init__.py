"""Training the motion generator: in-memory corpus batches, diffusion-forcing training, distillation."""
