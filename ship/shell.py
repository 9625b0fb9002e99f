"""Shell commands: `bash -lc` in its own session, killed whole on timeout."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ship.output import CappedOutput

_READ_CHUNK = 64 * 1024
# After the command exits, how long to keep reading output still in the pipe.
# Background jobs that keep the pipe open are not waited for.
_DRAIN_AFTER_EXIT_S = 0.5


@dataclass
class ShellResult:
    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool
    execution_time_ms: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "success": self.exit_code == 0 and not self.timed_out,
            "exit_code": self.exit_code,
            "output": self.output,
            "truncated": self.truncated,
            "timed_out": self.timed_out,
            "execution_time_ms": self.execution_time_ms,
        }


def kill_session(session_id: int) -> None:
    """SIGKILL the process group and every process left in the session `session_id`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(session_id, signal.SIGKILL)
    # A child may have moved to its own process group (setpgid) but it stays in the
    # session: find those through /proc.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the ")" that closes the command name: state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 3 and int(fields[3]) == session_id:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


async def run_command(
    command: str, *, cwd: Path, timeout: float, env: dict[str, str], max_output_bytes: int
) -> ShellResult:
    """Run `command`; stdout and stderr are interleaved in the order written."""
    started = time.monotonic()
    output = CappedOutput(max_output_bytes)
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-lc",
        command,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    stdout = proc.stdout
    # Incremental: a UTF-8 character split across two reads is decoded whole.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    async def read_output() -> None:
        while chunk := await stdout.read(_READ_CHUNK):
            output.append(decoder.decode(chunk))

    reader = asyncio.create_task(read_output())
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout=timeout)
    except TimeoutError:
        timed_out = True
    finally:
        if timed_out or proc.returncode is None:
            # Timeout or cancellation: nothing the command started may survive it.
            kill_session(proc.pid)
            await proc.wait()
    try:
        await asyncio.wait_for(asyncio.shield(reader), timeout=_DRAIN_AFTER_EXIT_S)
    except TimeoutError:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    output.append(decoder.decode(b"", final=True))
    text = output.text()
    if timed_out:
        text += (
            f"\n[command timed out after {timeout:g} s; "
            "it and every process it started were killed]\n"
        )
    return ShellResult(
        exit_code=None if timed_out else proc.returncode,
        output=text,
        truncated=output.truncated,
        timed_out=timed_out,
        execution_time_ms=int((time.monotonic() - started) * 1000),
    )
