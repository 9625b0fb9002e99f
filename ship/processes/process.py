"""One background process: started under `bash -lc` as a session leader, its output
pumped into a ring and a log, its end recorded.

Output is read from a non-blocking descriptor when the event loop says it is readable,
at most `READ_BATCH_BYTES` at a time, and the log is written in a worker thread before
the next read: a process that prints faster than the disk takes it is held back by its
own pipe, and Ship's memory stays the ring's size whatever it prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import resource
import secrets
import shlex
import signal as signals
import subprocess
import termios
from datetime import UTC, datetime
from pathlib import Path

from ship.errors import ValidationFailed
from ship.processes.input import InputWriter
from ship.processes.keys import key_bytes
from ship.processes.output import OutputRing, ProcessLog, complete_utf8
from ship.processes.proc_stats import GroupUsage, group_carries
from ship.processes.pty_screen import PtyScreen, set_window_size
from ship.protocol import (
    KeyName,
    ProcessInfo,
    ProcessOutput,
    ProcessStartRequest,
    ProcessState,
    SignalName,
    TerminalScreen,
)
from ship.shell import RUN_MARKER, kill_command, reap

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 64 * 1024
READ_BATCH_BYTES = 1024 * 1024
# After the leader exits, how long its end waits for output still in the pipe.
# Background jobs that keep the pipe open are not waited for (their output still comes).
DRAIN_AFTER_EXIT_S = 0.5
TERMINAL_TYPE = "xterm-256color"


def _default_signals() -> None:
    """In the child: SIGINT and SIGQUIT back to their defaults. A parent started in the
    background of a non-interactive shell ignores both, and an ignored signal stays
    ignored across exec: Ctrl+C (or `process_signal INT`) would then reach nothing."""
    signals.signal(signals.SIGINT, signals.SIG_DFL)
    signals.signal(signals.SIGQUIT, signals.SIG_DFL)


def _take_terminal() -> None:
    """In the child, a new session's leader: default signals, and stdin (the pty) made
    its controlling terminal, so Ctrl+C, Ctrl+Z and SIGWINCH reach its foreground group."""
    _default_signals()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _with_exports(env: dict[str, str], command: str) -> str:
    """`command` after exporting `env`: set after the login shell's profile has run (and
    `.bay_env.sh` with it), so the caller's variables win over the sandbox's."""
    exports = "".join(f"export {name}={shlex.quote(value)}; " for name, value in env.items())
    return exports + command


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Process:
    """A running (then ended) process; `start` spawns it."""

    def __init__(
        self,
        request: ProcessStartRequest,
        *,
        process_id: str,
        cwd: Path,
        cwd_relative: str,
        env: dict[str, str],
        log_file: ProcessLog,
        log_relative: str,
        ring_bytes: int,
    ) -> None:
        self.id = process_id
        self.request = request
        self.cwd = cwd
        self.cwd_relative = cwd_relative
        self.env = env
        self.log = log_file
        self.log_relative = log_relative
        self.ring = OutputRing(ring_bytes)
        self.screen = PtyScreen(request.rows, request.cols) if request.pty else None
        self.run_id = secrets.token_hex(8)
        self.state: ProcessState = "running"
        self.exit_code: int | None = None
        self.signal_name: str | None = None
        self.started_at = datetime.now(UTC)
        self.ended_at: datetime | None = None
        self.last_output_at: datetime | None = None
        self.final_cpu_seconds: float | None = None
        self.pid = 0
        self.ended = asyncio.Event()
        self.output_closed = asyncio.Event()
        # Replaced each time output comes or the process ends: waiters hold the old one.
        self._changed = asyncio.Event()
        self._sent: set[int] = set()
        self._screen_lock = asyncio.Lock()
        self._read_fd = -1
        self._input: InputWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- life ------------------------------------------------------------------------

    def start(self) -> None:
        """Fork and exec the command (OSError when the system refuses, e.g. EAGAIN)."""
        env = {**self.env, RUN_MARKER: self.run_id}
        command = ["bash", "-lc", _with_exports(self.request.env, self.request.command)]
        if self.request.pty:
            master, slave = os.openpty()
            try:
                set_window_size(slave, self.request.rows, self.request.cols)
                # Popen forks and execs without waiting on the child.
                popen = subprocess.Popen(
                    command,
                    cwd=self.cwd,
                    env={**env, "TERM": TERMINAL_TYPE},
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    start_new_session=True,
                    preexec_fn=_take_terminal,  # system calls only: safe after fork
                )
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            self._read_fd = master
            self._input = InputWriter(master, owns_fd=False)
        else:
            in_read, in_write = os.pipe()
            out_read, out_write = os.pipe()
            try:
                popen = subprocess.Popen(
                    command,
                    cwd=self.cwd,
                    env=env,
                    stdin=in_read,
                    stdout=out_write,
                    stderr=out_write,
                    start_new_session=True,
                    preexec_fn=_default_signals,
                )
            except BaseException:
                os.close(in_write)
                os.close(out_read)
                raise
            finally:
                os.close(in_read)
                os.close(out_write)
            os.set_blocking(in_write, False)
            self._read_fd = out_read
            self._input = InputWriter(in_write, owns_fd=True)
        self.pid = popen.pid
        # Reaped by `reap` (with its rusage): Popen must never wait for it itself.
        popen.returncode = 0
        os.set_blocking(self._read_fd, False)
        exited = reap(self.pid)
        self._tasks = [
            asyncio.create_task(self._pump(), name=f"process-{self.id}-output"),
            asyncio.create_task(self._watch(exited), name=f"process-{self.id}-end"),
        ]

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                readable: asyncio.Future[None] = loop.create_future()
                loop.add_reader(self._read_fd, _settle, readable)
                try:
                    await readable
                finally:
                    loop.remove_reader(self._read_fd)
                data, more = self._read_available()
                if data:
                    self.ring.append(data)
                    self.last_output_at = datetime.now(UTC)
                    self._notify()
                    if not self.log.truncated:
                        await asyncio.to_thread(self.log.write, data)
                if not more:
                    return
        finally:
            self.output_closed.set()
            self._notify()
            self._release_if_done()

    def _read_available(self) -> tuple[bytes, bool]:
        """What can be read now (up to a batch), and whether the output goes on."""
        chunks: list[bytes] = []
        size = 0
        while size < READ_BATCH_BYTES:
            try:
                chunk = os.read(self._read_fd, READ_CHUNK_BYTES)
            except BlockingIOError:
                break
            except OSError as exc:
                # A pty's master reads EIO once no process holds the terminal open.
                if exc.errno != errno.EIO:
                    log.warning("reading process %s's output failed: %s", self.id, exc)
                return b"".join(chunks), False
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), True

    async def _watch(self, exited: asyncio.Future[tuple[int, resource.struct_rusage]]) -> None:
        status, usage = await exited
        # Output still in the pipe; background jobs that hold it are not waited for.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.output_closed.wait(), DRAIN_AFTER_EXIT_S)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            self._end("killed", None, -code)
        elif code > 128 and code - 128 in self._sent:
            # bash reports a child killed by a signal as 128 + n: ours, so it was that.
            self._end("killed", None, code - 128)
        else:
            self._end("exited", code, None)
        self.final_cpu_seconds = round(usage.ru_utime + usage.ru_stime, 3)
        self._release_if_done()

    def _end(self, state: ProcessState, exit_code: int | None, signal_number: int | None) -> None:
        self.state = state
        self.exit_code = exit_code
        if signal_number is not None:
            self.signal_name = signals.Signals(signal_number).name
        self.ended_at = datetime.now(UTC)
        self.ended.set()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def running(self) -> bool:
        return self.state == "running"

    def _release_if_done(self) -> None:
        """Once it ended and its output closed: descriptors and log let go."""
        if self.ended.is_set() and self.output_closed.is_set():
            self._release()

    def _release(self) -> None:
        if self._input is not None:
            self._input.abandon()
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1
        self.log.close()

    async def close(self) -> None:
        """Stop following it (Ship's shutdown, or forgotten): tasks, descriptors, log."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._release()

    # -- what it is --------------------------------------------------------------------

    def info(self, usage: GroupUsage | None) -> ProcessInfo:
        running = self.running
        cpu = self.final_cpu_seconds
        if running and usage is not None and usage.members:
            cpu = round(usage.cpu_seconds, 3)
        return ProcessInfo(
            id=self.id,
            name=self.request.name,
            command=self.request.command,
            cwd=self.cwd_relative,
            pty=self.request.pty,
            state=self.state,
            exit_code=self.exit_code,
            signal=self.signal_name,
            started_at=self.started_at,
            ended_at=self.ended_at,
            cpu_seconds=cpu,
            memory_bytes=usage.memory_bytes if running and usage and usage.members else None,
            ports=usage.ports if running and usage else [],
            output_bytes=self.ring.end,
            last_output_at=self.last_output_at,
            log_path=self.log_relative,
            log_truncated=self.log.truncated,
            rows=self.screen.rows if self.screen else None,
            cols=self.screen.cols if self.screen else None,
        )

    # -- what callers do to it ---------------------------------------------------------

    async def read_output(
        self, since: int | None, wait_seconds: float, max_bytes: int
    ) -> tuple[int, bytes, int]:
        """(offset, bytes, bytes dropped before offset): new output from `since`,
        waiting up to `wait_seconds` for some (or the end) when there is none."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            changed = self._changed
            offset, data = self.ring.read(since, max_bytes)
            finished = self.output_closed.is_set() and offset + len(data) == self.ring.end
            if not finished:
                # A character cut at the end of what is there comes whole next time.
                data = data[: complete_utf8(data)]
            remaining = deadline - loop.time()
            if data or not self.running or remaining <= 0:
                dropped = offset - since if since is not None and since < offset else 0
                return offset, data, dropped
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def output_answer(
        self, offset: int, data: bytes, dropped: int, usage: GroupUsage | None
    ) -> ProcessOutput:
        next_offset = offset + len(data)
        return ProcessOutput(
            text=data.decode("utf-8", errors="replace"),
            offset=offset,
            next_offset=next_offset,
            dropped_bytes=dropped,
            more=next_offset < self.ring.end,
            process=self.info(usage),
        )

    async def send_input(self, text: str, keys: list[KeyName], close_stdin: bool) -> int:
        """Write `text`, then `keys`, then maybe EOF; the bytes written (or queued)."""
        if close_stdin and self.screen is not None:
            raise ValidationFailed(
                "a terminal's input is not closed: send the key Ctrl+D for end of input"
            )
        if not self.running:
            raise ValidationFailed(
                f"process {self.id} has ended ({self.state}); it takes no more input"
            )
        application_cursor = False
        if keys and self.screen is not None:
            await self._catch_up_screen()  # the program may have switched the cursor keys
            application_cursor = self.screen.application_cursor
        terminal = self.screen is not None
        data = text.encode() + b"".join(
            key_bytes(key, terminal=terminal, application_cursor=application_cursor) for key in keys
        )
        assert self._input is not None
        if data:
            self._input.write(data)
        if close_stdin:
            self._input.close()
        return len(data)

    async def signal(self, name: SignalName) -> bool:
        """Send SIG`name` to the process group; False when nothing of it runs any more.
        The group outlives a leader that left jobs behind (`server &`, a fork bomb):
        they are still signalled while one of them carries this run's marker (a group
        id given out again is not ours). SIGKILL also reaches members that left the
        group (a scan of /proc)."""
        if not self.running and not await asyncio.to_thread(self._group_lives_on):
            return False
        number = signals.Signals[f"SIG{name}"]
        self._sent.add(number)
        if number == signals.SIGKILL:
            await asyncio.to_thread(kill_command, self.pid, self.run_id)
            return True
        try:
            os.killpg(self.pid, number)
        except ProcessLookupError:
            return False  # the group is gone; its end is being recorded
        return True

    def _group_lives_on(self) -> bool:
        return group_carries(self.pid, f"{RUN_MARKER}={self.run_id}".encode())

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.ended.wait()), timeout)

    async def resize(self, rows: int, cols: int) -> None:
        screen = self._terminal()
        async with self._screen_lock:
            await self._feed_screen(screen)
            screen.resize(rows, cols)
            if self._read_fd >= 0:
                set_window_size(self._read_fd, rows, cols)

    async def render_screen(self, usage: GroupUsage | None) -> TerminalScreen:
        screen = self._terminal()
        await self._catch_up_screen()
        return screen.render(self.info(usage))

    def _terminal(self) -> PtyScreen:
        if self.screen is None:
            raise ValidationFailed(
                f"process {self.id} has no terminal: start it with pty to use its screen"
            )
        return self.screen

    async def _catch_up_screen(self) -> None:
        async with self._screen_lock:
            await self._feed_screen(self._terminal())

    async def _feed_screen(self, screen: PtyScreen) -> None:
        end = self.ring.end
        start = screen.catch_up_from(end)
        offset, data = self.ring.read(start, end - start)
        if data:
            await asyncio.to_thread(screen.feed, data, offset + len(data))
