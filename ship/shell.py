"""Shell commands: `bash -lc` in its own session, killed whole on timeout."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from ship.output import CappedOutput
from ship.protocol import ShellExecResult

# After the command exits, how long to keep reading output still in the pipe.
# Background jobs that keep the pipe open are not waited for.
_DRAIN_AFTER_EXIT_S = 0.5
# SIGKILL is not refused; this only bounds the wait for the kernel to reap.
_KILL_WAIT_S = 5.0


# Every process a command starts inherits this variable, so one that left the session
# (setsid) and whose parent already exited is still found. Only a process that both
# leaves the session and clears its environment escapes; stopping the container ends it.
RUN_MARKER = "SHIP_SHELL_RUN"


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, session id), read from /proc."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the ")" that closes the command name: state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 3:
            table[int(entry.name)] = (int(fields[1]), int(fields[3]))
    return table


def _carries_marker(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _members(leader: int, marker: bytes) -> set[int]:
    """Processes of one command: its session, its descendants, and marked processes."""
    table = _process_table()
    found = {pid for pid, (_, session) in table.items() if session == leader}
    found.add(leader)
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        found |= children
        grew = bool(children)
    own = os.getpid()
    others = (pid for pid in table if pid not in found and pid != own)
    found |= {pid for pid in others if _carries_marker(pid, marker)}
    return found


def kill_command(leader: int, run_id: str) -> None:
    """SIGKILL every process the command led by `leader` started, wherever it went."""
    marker = f"{RUN_MARKER}={run_id}".encode()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGKILL)
    # A process may fork while we scan: repeat until a scan finds nobody alive.
    for _ in range(5):
        alive = False
        for pid in _members(leader, marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                alive = True
        if not alive:
            return


class _CommandProtocol(asyncio.SubprocessProtocol):
    """Collects output and signals exit and end of output as events.

    Process.wait() from asyncio's high-level API also waits for the pipes to close, so
    a background job holding stdout would hold the call: exit is watched here instead.
    """

    def __init__(self, output: CappedOutput) -> None:
        self.output = output
        # Incremental: a UTF-8 character split across two reads is decoded whole.
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.exited = asyncio.Event()
        self.output_closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.output.append(self.decoder.decode(raw))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.output_closed.set()

    def process_exited(self) -> None:
        self.exited.set()


async def run_command(
    command: str, *, cwd: Path, timeout: float, env: dict[str, str], max_output_bytes: int
) -> ShellExecResult:
    """Run `command`; stdout and stderr are interleaved in the order written."""
    started = time.monotonic()
    output = CappedOutput(max_output_bytes)
    run_id = secrets.token_hex(8)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _CommandProtocol(output),
        "bash",
        "-lc",
        command,
        cwd=cwd,
        env={**env, RUN_MARKER: run_id},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    timed_out = False
    try:
        await asyncio.wait_for(protocol.exited.wait(), timeout=timeout)
    except TimeoutError:
        timed_out = True
    except BaseException:  # cancelled: kill everything, and let go of the pipes
        kill_command(transport.get_pid(), run_id)
        transport.close()
        raise
    finally:
        if transport.get_returncode() is None:
            # Timeout or cancellation: nothing the command started may survive it.
            kill_command(transport.get_pid(), run_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(protocol.exited.wait(), timeout=_KILL_WAIT_S)
    # Output still in the pipe after exit is read; background jobs are not waited for.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(protocol.output_closed.wait(), timeout=_DRAIN_AFTER_EXIT_S)
    exit_code = transport.get_returncode()
    transport.close()
    output.append(protocol.decoder.decode(b"", final=True))
    text = output.text()
    if timed_out:
        text += (
            f"\n[command timed out after {timeout:g} s; "
            "it and every process it started were killed]\n"
        )
    return ShellExecResult(
        success=exit_code == 0 and not timed_out,
        exit_code=None if timed_out else exit_code,
        output=text,
        truncated=output.truncated,
        timed_out=timed_out,
        execution_time_ms=int((time.monotonic() - started) * 1000),
    )
