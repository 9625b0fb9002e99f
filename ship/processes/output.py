"""A process's output: the last bytes in memory (a ring read by offset) and its log file.

Offsets count every byte the process wrote since it started, so a caller that keeps
the `next_offset` of each read misses nothing the ring still holds, and is told how
many bytes it missed when the ring moved past it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

# UTF-8 lead bytes and how long their sequence is; a read never ends inside one.
_LEAD_LENGTHS = (
    (0b1110_0000, 0b1100_0000, 2),
    (0b1111_0000, 0b1110_0000, 3),
    (0b1111_1000, 0b1111_0000, 4),
)


class OutputRing:
    """The last `capacity` bytes of a stream; the oldest are dropped to make room."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data = bytearray()
        self.start = 0  # the offset of the oldest byte kept

    @property
    def end(self) -> int:
        """The offset just past the newest byte: how many bytes were ever written."""
        return self.start + len(self._data)

    def append(self, data: bytes) -> None:
        if len(data) >= self.capacity:
            self.start += len(self._data) + len(data) - self.capacity
            self._data = bytearray(data[-self.capacity :])
            return
        self._data += data
        excess = len(self._data) - self.capacity
        if excess > 0:
            # Deleting from a bytearray's front moves its start, not its bytes.
            del self._data[:excess]
            self.start += excess

    def read(self, since: int | None, max_bytes: int) -> tuple[int, bytes]:
        """(offset, bytes) from `since` (or the oldest kept, if that was dropped), at most
        `max_bytes`; an offset past the end reads nothing from the end."""
        offset = self.start if since is None else min(max(since, self.start), self.end)
        begin = offset - self.start
        return offset, bytes(self._data[begin : begin + max_bytes])


def complete_utf8(data: bytes) -> int:
    """How many leading bytes of `data` end on a character boundary (a UTF-8 sequence
    cut at the end is left for the next read)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0b1100_0000 != 0b1000_0000:  # not a continuation byte
            for mask, lead, length in _LEAD_LENGTHS:
                if byte & mask == lead:
                    return len(data) - back if back < length else len(data)
            return len(data)
    return len(data)


class ProcessLog:
    """The process's output appended to a file until `limit` bytes; later bytes are
    counted, not written. Writes are blocking: call them from a worker thread."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.written = 0
        self.truncated = False
        self._fd: int | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Not through a link the sandbox's code put in its place.
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_NOFOLLOW
            self._fd = os.open(path, flags, 0o600)
        except OSError as exc:  # a read-only or full cargo: the ring still has the output
            log.warning("process output is not logged to %s: %s", path, exc)

    def write(self, data: bytes) -> None:
        if self._fd is None:
            return
        room = self.limit - self.written
        if len(data) > room:
            self.truncated = True
            data = data[: max(room, 0)]
        if not data:
            return
        try:
            os.write(self._fd, data)
        except OSError as exc:  # the cargo filled up meanwhile: stop here
            log.warning("process log %s stopped: %s", self.path, exc)
            self.truncated = True
            self.close()
            return
        self.written += len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
