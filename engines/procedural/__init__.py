"""Procedural identities: stylised faces drawn from the face model's geometry, for any motion and
pose, with exact ground-truth frames. They are the diffusion renderer's training data (where the
truth is known exactly) and avatars of its domain in the live server (docs/ARCHITECTURE.md §5)."""
