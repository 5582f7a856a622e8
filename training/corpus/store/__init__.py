"""The corpus on disk: the shard and manifest format, the training-window loader, and the readers
that summarise (stats) or show (preview) what a corpus holds."""
