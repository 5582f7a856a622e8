"""Keep the API token out of every log line.

Browsers cannot set headers on a WebSocket or a page load, so the token travels as ``?token=``, and
uvicorn's access log prints request lines with their query strings. Redaction happens where a
record is *made* (a ``logging`` record factory), so it covers every logger and every handler,
including handlers added later (uvicorn configures its own when it starts, pytest adds its own
per test); :class:`RedactingFilter` does the same for handlers configured by hand. Redacted:
``token=`` query values, ``Authorization: Bearer`` credentials, and the configured token itself.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MASK = "…"
MIN_SECRET_LEN = 4  # shorter strings would mask ordinary text; ``token=`` still catches them

_QUERY = re.compile(r"(?i)\b((?:access_)?token=)[^&\s\"'#;,]+")
_BEARER = re.compile(r"(?i)(authorization[\"']?\s*[:=,]\s*[\"']?bearer\s+)(?!<)[^\s\"',;)}\]]+")
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False
_REDACTED = "_xactor_redacted"


def redact(text: str) -> str:
    """``text`` with token query values, bearer credentials and known secrets masked."""
    text = _QUERY.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask ``record`` in place (once). String arguments are masked one by one, so formatters that
    unpack ``args`` (uvicorn's access formatter) still work; if the token still shows through an
    object's ``str``, the message is frozen, masked, as a plain string."""
    if getattr(record, _REDACTED, False):
        return record
    setattr(record, _REDACTED, True)
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_value(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _redact_value(v) for k, v in record.args.items()}
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself, at emit time
        message = None
    if message is not None and redact(message) != message:
        record.msg, record.args = redact(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """A filter for handlers and loggers: masks the record, never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install(secret: str | None = None) -> None:
    """Mask ``secret`` (the server's token) too, and make sure every record is redacted: the record
    factory, and the filter on uvicorn's loggers and the root handlers. Idempotent; safe for
    several apps in one process (tests), whose tokens all stay masked."""
    global _installed
    with _lock:
        if secret and len(secret) >= MIN_SECRET_LEN:
            _secrets.add(secret)
        if not _installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return redact_record(previous(*args, **kwargs))

            logging.setLogRecordFactory(factory)
            _installed = True
    for target in (
        logging.getLogger("uvicorn.access"),
        logging.getLogger("uvicorn.error"),
        *logging.getLogger().handlers,
    ):
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with :class:`RedactingFilter` on its handlers (for
    ``xactor serve``; the record factory already covers it, this keeps it so if a library swaps
    the factory)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_token"] = {"()": f"{__name__}.RedactingFilter"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_token")
    return config
