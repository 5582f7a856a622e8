"""Face motion from speech: visemes and lips from the phonemes, head and brows from prosody, slow
emotion offsets, and :mod:`.compose`, which adds them into one clip's motion track."""
