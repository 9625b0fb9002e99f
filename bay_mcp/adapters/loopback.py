"""A loopback port forward: a TCP listener on 127.0.0.1:<free port> whose connections
are piped to a sandbox's port (how exposed ports are reached over stdio, where Bay
serves no HTTP).

Each connection asks `connect` for its upstream afresh, so a forward never reaches a
session that has gone: `connect` raises a BayError instead, which the client reads as
a plain HTTP error response (the forward carries HTTP in practice: previews).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from bay_mcp.errors import BayError, InternalError

log = logging.getLogger(__name__)

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[], Awaitable[Streams]]
_CHUNK = 64 * 1024


def http_error(error: BayError) -> bytes:
    """`error` as a complete HTTP/1.1 response in the contract's error shape."""
    body = json.dumps(
        {"error": {"code": error.code, "message": error.message, "details": error.details}}
    ).encode()
    head = (
        f"HTTP/1.1 {error.status} Error\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass  # the other side went away: the connection ends, nothing else to do


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


class LoopbackForward:
    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            try:
                upstream_reader, upstream_writer = await self._connect()
            except BayError as error:
                writer.write(http_error(error))
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.drain()
                return
            except Exception:
                log.exception("loopback forward on port %d: reaching the sandbox failed", self.port)
                writer.write(
                    http_error(InternalError("Bay failed to reach the sandbox; see its log"))
                )
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.drain()
                return
            try:
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            finally:
                await _close(upstream_writer)
        finally:
            await _close(writer)
            self._connections.discard(task)

    async def close(self) -> None:
        """Stop listening and end the open connections."""
        if self._server is not None:
            self._server.close()
        # A connection that finds its session gone closes the forward from inside.
        others = [task for task in self._connections if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        for task in others:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            # Do not wait_closed: that waits for handlers, which are cancelled above.
            self._server = None
