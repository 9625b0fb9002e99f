"""A process's input: written to a non-blocking descriptor (a pipe, or a terminal's
master) without ever blocking Ship, what does not fit now queued (bounded) and written
when the loop says it can be."""

from __future__ import annotations

import asyncio
import logging
import os

from ship.errors import ValidationFailed

log = logging.getLogger(__name__)

# Input the process has not read yet, held by Ship; past this, input is refused.
MAX_PENDING_INPUT_BYTES = 1024 * 1024


class InputWriter:
    """Writes to a non-blocking descriptor; what does not fit now is written when the
    loop says it can be, in order."""

    def __init__(self, fd: int, owns_fd: bool) -> None:
        self.fd: int | None = fd
        self.owns_fd = owns_fd
        self.pending = bytearray()
        self.close_when_written = False

    def write(self, data: bytes) -> None:
        if self.fd is None:
            raise ValidationFailed("the process's input is closed")
        if len(self.pending) + len(data) > MAX_PENDING_INPUT_BYTES:
            raise ValidationFailed(
                f"the process is not reading its input: {len(self.pending)} bytes sent "
                "earlier still wait; read its output or signal it"
            )
        if self.pending:
            self.pending += data
            return
        written = self._write_now(data)
        if written < len(data):
            self.pending += data[written:]
            asyncio.get_running_loop().add_writer(self.fd, self._flush)

    def _write_now(self, data: bytes) -> int:
        assert self.fd is not None
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:  # EPIPE, EIO: nobody reads it any more
            reason = exc.strerror
            raise ValidationFailed(f"the process no longer reads its input ({reason})") from exc

    def _flush(self) -> None:
        assert self.fd is not None
        try:
            written = self._write_now(bytes(self.pending))
        except ValidationFailed as exc:
            log.info("input to a process dropped (%d bytes): %s", len(self.pending), exc.message)
            written = len(self.pending)
        del self.pending[:written]
        if not self.pending:
            asyncio.get_running_loop().remove_writer(self.fd)
            if self.close_when_written:
                self.close()

    def close(self) -> None:
        """End the input (EOF) once what was sent is written."""
        if self.fd is None:
            return
        if self.pending:
            self.close_when_written = True
            return
        if self.owns_fd:
            os.close(self.fd)
        self.fd = None

    def abandon(self) -> None:
        """Drop what is pending and let go of the descriptor (the process ended)."""
        if self.fd is None:
            return
        if self.pending:
            asyncio.get_running_loop().remove_writer(self.fd)
            self.pending.clear()
        if self.owns_fd:
            os.close(self.fd)
        self.fd = None
