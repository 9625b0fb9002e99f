"""A bounded text buffer: what one exec may hold in Ship's memory."""

from __future__ import annotations

from collections.abc import Callable

# Told each piece of text as it is kept: a live view never shows more than the result.
OutputListener = Callable[[str], None]


class CappedOutput:
    """Collects text up to `limit` bytes (UTF-8); anything past it is counted, not kept."""

    def __init__(self, limit: int, listener: OutputListener | None = None) -> None:
        self._limit = limit
        self._listener = listener
        self._parts: list[str] = []
        self._size = 0
        self.truncated = False
        self.dropped_bytes = 0
        self.length = 0  # characters kept: where the next piece of text starts

    def append(self, text: str) -> None:
        if not text:
            return
        encoded = text.encode("utf-8", errors="replace")
        room = self._limit - self._size
        if len(encoded) <= room:
            self._keep(text)
            self._size += len(encoded)
            return
        self.truncated = True
        self.dropped_bytes += len(encoded) - max(room, 0)
        if room > 0:
            self._keep(encoded[:room].decode("utf-8", errors="ignore"))
            self._size = self._limit

    def _keep(self, text: str) -> None:
        self._parts.append(text)
        self.length += len(text)
        if self._listener is not None:
            self._listener(text)

    def has_room(self, size: int) -> bool:
        return self._size + size <= self._limit

    def consume(self, size: int) -> None:
        """Account for `size` bytes kept outside the text (e.g. an image)."""
        self._size += size

    def drop(self, size: int) -> None:
        """Record `size` bytes that were produced but not kept."""
        if size <= 0:
            return
        self.truncated = True
        self.dropped_bytes += size

    def text(self) -> str:
        body = "".join(self._parts)
        if self.truncated:
            body += f"\n[output truncated: {self.dropped_bytes} more bytes were not kept]\n"
        return body
