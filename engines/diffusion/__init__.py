"""The diffusion renderer (stage 2): a small conditional UNet that turns the warp prior, the
avatar's reference portrait and a landmark map into the frame (docs/ARCHITECTURE.md §4)."""
