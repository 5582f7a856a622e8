"""Procedural identities: stylised faces drawn from the face model's geometry, for any motion and
pose, with exact ground-truth frames (the renderer stage's training data; docs/ARCHITECTURE.md §5)."""
