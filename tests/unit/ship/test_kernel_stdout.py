"""A kernel's stdout read into the running execution's output, within its budget."""

from __future__ import annotations

import asyncio
import os

from ship.kernel_stdout import KernelStdout
from ship.output import CappedOutput


async def test_text_goes_to_the_run_and_past_the_budget_is_counted() -> None:
    read_end, write_end = os.pipe()
    stdout = KernelStdout(os.fdopen(read_end, "rb", buffering=0))
    try:
        os.write(write_end, b"before any run\n")
        stdout.drain()  # between runs: read, kept by no one
        sink = CappedOutput(10)
        stdout.sink = sink
        # A character split across two writes is put back together.
        os.write(write_end, "é".encode()[:1])
        os.write(write_end, "é".encode()[1:] + b"12345678")
        stdout.drain()
        os.write(write_end, b"x" * 1000)
        stdout.drain()
        assert sink.text().startswith("é12345678")
        assert sink.truncated
        assert sink.dropped_bytes == 1000
    finally:
        os.close(write_end)
        stdout.close()


async def test_it_reads_as_the_kernel_writes_and_closes_at_the_end() -> None:
    read_end, write_end = os.pipe()
    stdout = KernelStdout(os.fdopen(read_end, "rb", buffering=0))
    sink = CappedOutput(1000)
    seen = asyncio.Event()
    sink_listener = CappedOutput(1000, listener=lambda _text: seen.set())
    stdout.sink = sink_listener
    os.write(write_end, b"live\n")
    # Read by the event loop's reader, not by a drain.
    await asyncio.wait_for(seen.wait(), timeout=10)
    assert sink_listener.text() == "live\n"
    stdout.sink = sink
    os.close(write_end)  # the kernel exited
    stdout.read()
    stdout.read()  # closed: nothing more, no error
    assert sink.text() == ""
