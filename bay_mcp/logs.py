"""Logging: always to stderr (in stdio mode stdout carries only MCP frames), and to a
file when configured."""

from __future__ import annotations

import contextvars
import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

# The id of the HTTP request being handled ("-" outside one), set by the auth middleware.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every log record (`%(request_id)s`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str, log_file: Path | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=level.upper(), format=FORMAT, handlers=handlers, force=True)
    # Per-request lines from the HTTP clients and the migration runner are noise here.
    for noisy in ("httpx", "httpcore", "alembic", "aiodocker", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
