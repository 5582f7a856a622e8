"""The live path: one WebRTC session per browser, mic audio in, talking-portrait video out (docs/ARCHITECTURE.md §4)."""
