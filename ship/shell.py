"""Shell commands: `bash -lc` in its own session, killed whole on timeout."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import resource
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

from ship.output import CappedOutput, OutputListener
from ship.proc_table import process_table
from ship.protocol import ShellExecResult
from ship.resources import Cgroup, Meter, rusage_figures

# After the command exits, how long to keep reading output still in the pipe.
# Background jobs that keep the pipe open are not waited for.
_DRAIN_AFTER_EXIT_S = 0.5
# SIGKILL is not refused; this only bounds the wait for the kernel to reap.
_KILL_WAIT_S = 5.0


# Every process a command starts inherits this variable, so one that left the session
# (setsid) and whose parent already exited is still found. Only a process that both
# leaves the session and clears its environment escapes; stopping the container ends it.
RUN_MARKER = "SHIP_SHELL_RUN"


def _carries_marker(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _members(leader: int, marker: bytes) -> set[int]:
    """Processes of one command: its session, its descendants, and marked processes."""
    table = process_table()
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


class _OutputReader(asyncio.Protocol):
    """Collects the command's output and signals the end of it."""

    def __init__(self, output: CappedOutput) -> None:
        self.output = output
        # Incremental: a UTF-8 character split across two reads is decoded whole.
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.closed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.output.append(self.decoder.decode(data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


Exit = tuple[int, resource.struct_rusage]


def reap(pid: int) -> asyncio.Future[Exit]:
    """The command's exit status and rusage, from `wait4` in a thread of its own.

    asyncio's child watcher reaps with waitpid and drops the rusage (CPU time, peak
    memory), so the command is started and reaped here instead. A thread per command,
    as that watcher does: the default executor's few workers would queue commands.
    Exit is watched, not end of output: a background job holding stdout must not hold
    the call.
    """
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[Exit] = loop.create_future()

    def settle(result: Exit) -> None:
        if not exited.done():
            exited.set_result(result)

    def wait() -> None:
        _, status, usage = os.wait4(pid, 0)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, (status, usage))

    threading.Thread(target=wait, name=f"reap-{pid}", daemon=True).start()
    return exited


def _killed_by(exit_code: int | None, meter: Meter) -> int | None:
    """The signal that ended the command. bash reports a child killed by a signal as
    128 + n, indistinguishable from `exit 137`; only with an OOM kill seen meanwhile is
    137 read as the OOM killer's SIGKILL."""
    if exit_code is None:
        return None
    if exit_code < 0:
        return -exit_code
    if exit_code == 128 + signal.SIGKILL and meter.oom_during():
        return signal.SIGKILL
    return None


async def run_command(
    command: str,
    *,
    cwd: Path,
    timeout: float,
    env: dict[str, str],
    max_output_bytes: int,
    cgroup: Cgroup,
    listener: OutputListener | None = None,
) -> ShellExecResult:
    """Run `command`; stdout and stderr are interleaved in the order written (and told
    to `listener` as they come)."""
    started = time.monotonic()
    output = CappedOutput(max_output_bytes, listener)
    run_id = secrets.token_hex(8)
    loop = asyncio.get_running_loop()
    meter = Meter(cgroup)
    # Popen forks and execs without waiting: asyncio's subprocess_exec calls it the same way.
    process = subprocess.Popen(  # noqa: ASYNC220
        ["bash", "-lc", command],
        cwd=cwd,
        env={**env, RUN_MARKER: run_id},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    exited = reap(process.pid)
    assert process.stdout is not None
    pipe, reader = await loop.connect_read_pipe(lambda: _OutputReader(output), process.stdout)
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(exited), timeout=timeout)
    except TimeoutError:
        timed_out = True
    except BaseException:  # cancelled: kill everything, and let go of the pipe
        kill_command(process.pid, run_id)
        pipe.close()
        raise
    finally:
        if not exited.done():
            # Timeout or cancellation: nothing the command started may survive it.
            kill_command(process.pid, run_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), timeout=_KILL_WAIT_S)
        if exited.done():
            process.returncode = exited.result()[0]  # reaped: Popen must not wait again
    # Output still in the pipe after exit is read; background jobs are not waited for.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reader.closed.wait(), timeout=_DRAIN_AFTER_EXIT_S)
    pipe.close()
    output.append(reader.decoder.decode(b"", final=True))
    exit_code: int | None = None
    cpu_time_ms = peak_memory_bytes = None
    if exited.done():
        status, usage = exited.result()
        exit_code = os.waitstatus_to_exitcode(status)
        cpu_time_ms, peak_memory_bytes = rusage_figures(usage)
    report = meter.report(
        cpu_time_ms=cpu_time_ms,
        peak_memory_bytes=peak_memory_bytes,
        timed_out=timed_out,
        killed_by=_killed_by(exit_code, meter),
    )
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
        resources=report,
    )
