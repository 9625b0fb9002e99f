"""The loop-driven stdio wire's line reader and writer (the pipes themselves are
exercised by every stdio integration test, which spawns bay-mcp)."""

from __future__ import annotations

import asyncio
import os

import pytest

from bay_mcp.stdio_wire import LineReader, LineWriter

pytestmark = pytest.mark.asyncio


async def test_lines_are_read_whole_and_the_end_stops_iteration() -> None:
    stream = asyncio.StreamReader()
    stream.feed_data(b'{"a": 1}\n{"b": "\xc3\xa9"}\n')
    stream.feed_eof()
    assert [line async for line in LineReader(stream)] == ['{"a": 1}\n', '{"b": "é"}\n']


async def test_written_text_reaches_the_pipe_on_flush() -> None:
    read_fd, write_fd = os.pipe()
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(write_fd, "wb", buffering=0)
    )
    writer = LineWriter(asyncio.StreamWriter(transport, protocol, None, loop))
    await writer.write('{"id": 1}\n')
    await writer.flush()
    transport.close()
    assert os.read(read_fd, 100) == b'{"id": 1}\n'
    os.close(read_fd)
