"""Log lines for a person at a terminal (``code2asin convert``): one readable sentence per event.

The service logs structured events (``image.refused url=... reason=...``); a one-shot ``convert`` shows
the warnings among them as sentences, above the progress bar, with the URL and the reason, and secrets
masked like every other log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from code2asin.observability import ContextFilter, RedactionFilter

_HANDLER_NAME = "code2asin-cli"

#: event -> how to say it (the record's extra fields fill the blanks)
SENTENCES: dict[str, str] = {
    "image.refused": "Image not copied: {url}: {reason}",
    "image.task.failed": "Images of a row not copied: {error}",
    "image.task.retry": "Images of a row not copied yet, will try again: {error}",
    "image.task.error": "Images of a row could not be copied (task {task_id}).",
}


class SentenceFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = record.getMessage()
        extra: dict[str, Any] = {k: v for k, v in record.__dict__.items() if k not in _PLAIN}
        template = SENTENCES.get(event)
        if template is not None:
            try:
                return template.format(**extra)
            except (KeyError, IndexError):
                pass
        pairs = " ".join(f"{k}={v}" for k, v in extra.items() if not k.startswith("_"))
        return f"{record.levelname.capitalize()}: {event} {pairs}".rstrip()


_PLAIN = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _Emit(logging.Handler):
    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(self.format(record))
        except Exception:  # a log line must never break the conversion
            self.handleError(record)


def configure_cli_logging(write: Callable[[str], None]) -> logging.Handler:
    """Warnings and errors as sentences, each passed to ``write`` (the CLI's stderr console, which keeps
    them above its progress bar). Idempotent; returns the handler."""
    handler = _Emit(write)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactionFilter())
    handler.setFormatter(SentenceFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
