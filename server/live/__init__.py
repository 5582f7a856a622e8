"""The live path: one WebRTC session per client, mic in, portrait video out (docs/ARCHITECTURE.md §4)."""
