"""xactor server: FastAPI app, CLI, live sessions."""

__version__ = "0.1.0"
