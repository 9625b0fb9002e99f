"""Logging: always to stderr (in stdio mode stdout carries only MCP frames), and to a
file when configured; text by default, one JSON object a line with
BAY_LOG_FORMAT=json. Every line names the request, and the owner, sandbox and
execution it is about where known (context variables the surfaces and services set).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
LogFormat = Literal["text", "json"]

# The id of the HTTP request being handled ("-" outside one), set by the auth middleware.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# Who and what the current call is about, where known.
owner_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("owner", default=None)
sandbox_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("sandbox", default=None)
execution_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "execution", default=None
)
_CONTEXT = (("owner", owner_var), ("sandbox_id", sandbox_var), ("execution_id", execution_var))


@contextlib.contextmanager
def about(variable: contextvars.ContextVar[str | None], value: str) -> Iterator[None]:
    """Log lines inside the block name `value` (owner, sandbox or execution)."""
    token = variable.set(value)
    try:
        yield
    finally:
        # Left in another task's context (a streamed response ends in Starlette's own
        # task), the reset fails: the context it was set in ends with its request anyway.
        with contextlib.suppress(ValueError):
            variable.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id, and the owner, sandbox and execution where known,
    on every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        for name, variable in _CONTEXT:
            setattr(record, name, variable.get())
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for name, _ in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(
    level: str, log_file: Path | None = None, log_format: LogFormat = "text"
) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(FORMAT)
    for handler in handlers:
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=handlers, force=True)
    # Per-request lines from the HTTP clients and the migration runner are noise here.
    for noisy in ("httpx", "httpcore", "alembic", "aiodocker", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
