"""Live output over REST: an exec asked with `Accept: text/event-stream` answers
Server-Sent Events: `output` events (`{"text": …}`) as the run prints, then one
`result` event carrying the usual JSON answer, or one `error` event carrying the
contract's error body. A client that goes away cancels the run (its code interrupted,
its command killed), as closing a plain request does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import StreamingResponse

from bay_mcp.errors import BayError, InternalError
from bay_mcp.services.runs import OutputSink
from rest.errors import error_body

log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
T = TypeVar("T")


def wants_events(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "")


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def event_stream(
    run: Callable[[OutputSink], Awaitable[T]],
    answer: Callable[[T], Any],
    request_id: str,
) -> StreamingResponse:
    pending: asyncio.Queue[str | None] = asyncio.Queue()
    task = asyncio.ensure_future(run(pending.put_nowait))
    task.add_done_callback(lambda _: pending.put_nowait(None))

    async def events() -> AsyncIterator[bytes]:
        try:
            while (text := await pending.get()) is not None:
                parts = [text]
                while not pending.empty():
                    more = pending.get_nowait()
                    if more is None:
                        pending.put_nowait(None)  # seen again by the outer loop
                        break
                    parts.append(more)
                yield _event("output", {"text": "".join(parts)})
            yield _final(task, answer, request_id)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    return StreamingResponse(
        events(),
        media_type=EVENT_STREAM,
        headers={"X-Request-Id": request_id, "Cache-Control": "no-cache"},
    )


def _final(task: asyncio.Future[T], answer: Callable[[T], Any], request_id: str) -> bytes:
    error = task.exception()
    if error is None:
        return _event("result", answer(task.result()))
    if not isinstance(error, BayError):
        log.error("internal error on request %s", request_id, exc_info=error)
        error = InternalError(f"internal error; quote request id {request_id} when reporting it")
    return _event("error", error_body(error, request_id))
