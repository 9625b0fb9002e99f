"""A kernel's standard output read as it is written, into the running execution's output.

R's kernel prints there (`r_kernel.R` says why): its text reaches the result, and the
live view, while the run goes on, within the output budget, and a flood is seen as it
happens rather than as one message at the end.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from typing import IO

from ship.output import CappedOutput

_CHUNK = 1 << 16
# Read per wake-up before the event loop gets its turn back: a kernel printing without
# pause must not starve Ship's other work.
_CHUNKS_PER_READ = 16


class KernelStdout:
    """Reads the pipe on the event loop; what is read goes to `sink` (nothing between
    runs). Closed with the kernel."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream  # held: the pipe stays open as long as this reads it
        self._fd = stream.fileno()
        os.set_blocking(self._fd, False)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._loop = asyncio.get_running_loop()
        self._open = True
        self.sink: CappedOutput | None = None
        self._loop.add_reader(self._fd, self.read)

    def read(self, chunks: int = _CHUNKS_PER_READ) -> None:
        """Take what is in the pipe now (up to `chunks` reads)."""
        for _ in range(chunks):
            if not self._open:
                return
            try:
                chunk = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            self._take(chunk)

    def drain(self) -> None:
        """Everything the kernel wrote before it said the run was over: it flushed
        before its reply, and it blocks on a full pipe, so at most a pipe's worth waits."""
        self.read(chunks=64)

    def _take(self, chunk: bytes) -> None:
        sink = self.sink
        if sink is None:
            return
        if sink.truncated:
            # Past the budget: counted, never decoded (a flood is gigabytes).
            sink.drop(len(chunk))
            return
        sink.append(self._decoder.decode(chunk))

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._loop.remove_reader(self._fd)
        self._stream.close()
