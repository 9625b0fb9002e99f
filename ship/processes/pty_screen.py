"""A pseudo-terminal's screen, emulated by pyte from the bytes the process wrote.

The screen is fed lazily, when it is asked for (or a key needs the terminal's mode),
and never with more than the last `CATCH_UP_BYTES` of output: emulating costs about a
second per megabyte, so a process that printed megabytes since the last look gets a
fresh screen fed with the tail of its output (a full-screen program's state from
before that tail is lost until it redraws).
"""

from __future__ import annotations

import fcntl
import struct
import termios

from ship.protocol import ProcessInfo, TerminalScreen

CATCH_UP_BYTES = 32 * 1024
CURSOR_MARK = "█"
# pyte keeps private modes (`ESC [ ? n h`) shifted left by 5.
_APPLICATION_CURSOR = 1 << 5


def set_window_size(fd: int, rows: int, cols: int) -> None:
    """TIOCSWINSZ on the terminal `fd`: its processes get SIGWINCH."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyScreen:
    def __init__(self, rows: int, cols: int) -> None:
        # Imported with the first terminal: 30 ms of every Ship start otherwise, and
        # most sandboxes never open one.
        import pyte

        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.fed = 0  # the output offset fed up to

    @property
    def rows(self) -> int:
        return int(self.screen.lines)

    @property
    def cols(self) -> int:
        return int(self.screen.columns)

    @property
    def application_cursor(self) -> bool:
        return _APPLICATION_CURSOR in self.screen.mode

    def catch_up_from(self, offset: int) -> int:
        """Where feeding must start for output that ends at `offset` (resetting the
        screen when more than CATCH_UP_BYTES are pending)."""
        if offset - self.fed > CATCH_UP_BYTES:
            self.screen.reset()
            self.stream = type(self.stream)(self.screen)
            self.fed = offset - CATCH_UP_BYTES
        return self.fed

    def feed(self, data: bytes, end: int) -> None:
        """Emulate `data`, which ends at output offset `end` (blocking: CPU)."""
        self.stream.feed(data)
        self.fed = end

    def resize(self, rows: int, cols: int) -> None:
        self.screen.resize(rows, cols)

    def render(self, process: ProcessInfo) -> TerminalScreen:
        lines = [line.rstrip() for line in self.screen.display]
        cursor = self.screen.cursor
        row, col = min(cursor.y, self.rows - 1), min(cursor.x, self.cols - 1)
        marked = list(lines)
        if not cursor.hidden:
            line = marked[row].ljust(col + 1)
            marked[row] = (line[:col] + CURSOR_MARK + line[col + 1 :]).rstrip()
        return TerminalScreen(
            rows=self.rows,
            cols=self.cols,
            lines=lines,
            cursor_row=row,
            cursor_col=col,
            cursor_visible=not cursor.hidden,
            title=str(self.screen.title or ""),
            rendered="\n".join(marked),
            offset=self.fed,
            process=process,
        )
