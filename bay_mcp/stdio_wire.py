"""The stdio wire served by the event loop itself.

The MCP SDK reads stdin through a worker thread blocked in read(): nothing can cancel
it, so a server asked to stop by SIGTERM (what a host sends when closing stdin was not
enough) hung until the host killed it, and the warm pool's containers outlived it.
It also costs a thread hop per line in and two per message out (write, flush). When
stdin and stdout are pipes or sockets (every MCP host spawns servers that way), Bay
hands the SDK's `stdio_server` a reader and writer driven by asyncio's own pipe
transports instead: no thread, and cancelling the server stops it at once. Anything
else (a file, a terminal) keeps the SDK's own streams, which handle them.

Like the SDK, Bay claims the descriptors: fd 0 reads the null device and fd 1 goes to
stderr, so no child process or stray print can touch the wire.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

# The longest message Bay accepts on one line (a write_file of a large file is one line).
_MAX_LINE = 1 << 30


class LineReader:
    """The wire's incoming lines, as the SDK's `stdio_server` iterates them."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> LineReader:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class LineWriter:
    """The wire's outgoing side, as the SDK's `stdio_server` writes to it."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()  # waits only when the host reads slower than we write


@dataclass(frozen=True)
class Wire:
    reader: LineReader
    writer: LineWriter


def _is_pipe_or_socket(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@asynccontextmanager
async def loop_stdio() -> AsyncIterator[Wire | None]:
    """The process's stdin and stdout as a `Wire` driven by the event loop, or None
    when they are not both pipes or sockets (then the SDK's streams serve them)."""
    if not (_is_pipe_or_socket(0) and _is_pipe_or_socket(1)):
        yield None
        return
    loop = asyncio.get_running_loop()
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    reader = asyncio.StreamReader(limit=_MAX_LINE)
    in_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
    )
    out_transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(out_transport, protocol, None, loop)
    try:
        yield Wire(LineReader(reader), LineWriter(writer))
    finally:
        # The process ends after serving: fd 0 and 1 stay diverted, the wire closes.
        in_transport.close()
        out_transport.close()
