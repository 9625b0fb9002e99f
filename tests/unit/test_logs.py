"""Log lines: JSON lines carry the request's context (owner, sandbox, execution), and
a context left in another task neither fails nor changes what the request logs."""

from __future__ import annotations

import asyncio
import json
import logging

from bay_mcp.logs import JsonFormatter, RequestIdFilter, about, owner_var, sandbox_var


def _record() -> logging.LogRecord:
    record = logging.LogRecord("bay", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    RequestIdFilter().filter(record)
    return record


def test_json_log_lines_carry_the_context() -> None:
    with about(owner_var, "alice"), about(sandbox_var, "sandbox-1"):
        record = _record()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello world"
    assert (line["owner"], line["sandbox_id"], line["request_id"]) == ("alice", "sandbox-1", "-")
    assert "execution_id" not in line  # absent, never invented
    assert "sandbox_id" not in json.loads(JsonFormatter().format(_record()))  # reset after


async def test_a_context_left_in_another_task_does_not_fail() -> None:
    """A streamed download leaves the sandbox's context in Starlette's task."""

    async def request() -> str | None:
        entered = about(sandbox_var, "sandbox-1")
        entered.__enter__()
        await asyncio.create_task(asyncio.to_thread(entered.__exit__, None, None, None))
        # The exit elsewhere changed nothing here: the request's own lines still name
        # its sandbox, until its context ends with it.
        sandbox_id: str | None = getattr(_record(), "sandbox_id", None)
        return sandbox_id

    assert await asyncio.create_task(request()) == "sandbox-1"
    assert sandbox_var.get() is None  # nothing leaked into the caller's context
