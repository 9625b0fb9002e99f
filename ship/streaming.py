"""Runs answered live: output as NDJSON events, and the run cancelled if the caller leaves.

A cancelled run has its code interrupted or its command killed, not left to its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import StreamingResponse

from ship import protocol
from ship.errors import ShipError
from ship.output import OutputListener

log = logging.getLogger(__name__)

Result = TypeVar("Result", protocol.PythonExecResult, protocol.ShellExecResult)
T = TypeVar("T")


def wants_stream(route: protocol.ShipRoute[Any, Any], request: Request) -> bool:
    """Whether the caller asked a streaming route for its NDJSON events."""
    return route.streaming and protocol.NDJSON in request.headers.get("accept", "")


def streamed(run: Callable[[OutputListener], Awaitable[Result]]) -> StreamingResponse:
    """The run's output as it comes, then its result, a JSON line each. The run is
    cancelled (its code interrupted, its command killed) if the caller goes away."""
    pending: asyncio.Queue[str | None] = asyncio.Queue()
    task = asyncio.ensure_future(run(pending.put_nowait))
    task.add_done_callback(lambda _: pending.put_nowait(None))

    async def lines() -> AsyncIterator[bytes]:
        try:
            ended = False
            while not ended:
                parts: list[str] = []
                text = await pending.get()
                while True:  # what has gathered meanwhile goes in the same line
                    if text is None:
                        ended = True
                        break
                    parts.append(text)
                    if pending.empty():
                        break
                    text = pending.get_nowait()
                if parts:
                    yield _line(protocol.OutputEvent(text="".join(parts)))
            yield _line(_final(task))
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    return StreamingResponse(lines(), media_type=protocol.NDJSON)


def _final(task: asyncio.Future[Result]) -> protocol.Model:
    error = task.exception()
    if error is None:
        return task.result()
    if not isinstance(error, ShipError):
        log.error("a streamed run failed", exc_info=error)
        error = ShipError("internal error in Ship; see the container's log")
    return protocol.ErrorEvent(
        error=protocol.ErrorInfo(code=error.code, message=error.message, details=error.details)
    )


def _line(event: protocol.Model) -> bytes:
    return json.dumps(event.wire()).encode() + b"\n"


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Run `work`, cancelling it if the client goes away first.

    Bay cancels a call by closing its request: a cancelled shell command must be
    killed (run_command does that when cancelled), not left running to its timeout.
    """
    task = asyncio.ensure_future(work)

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.info("client went away: the running call was cancelled")
            raise ShipError("the caller went away; the call was cancelled")
    return task.result()
