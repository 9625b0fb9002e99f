"""The machine's set-up, running beside the server: `scripts/run` starts the Docker
engine and builds the Ship image in the background (BAY_SETUP_PID; its output in
BAY_SETUP_LOG, its exit code written to BAY_SETUP_STATUS when it ends) and execs
`bay-mcp` at once, because an MCP host gives a server seconds, not minutes, to answer.
Starting a sandbox waits for the set-up here, with progress; a set-up that failed is
reported on every call, with the end of its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from bay_mcp.errors import SessionNotReady
from bay_mcp.managers import Progress

_POLL_S = 1.0
_RETRY_AFTER_MS = 30_000


class MachineSetup:
    def __init__(
        self, pid: int | None, log: Path | None, wait_s: float, status: Path | None = None
    ) -> None:
        self._pid = pid
        self._log = log
        self._status = status
        self._wait_s = wait_s
        self._exit_code: int | None = None
        self._started = time.monotonic()

    def _running(self) -> bool:
        if self._pid is None or self._exit_code is not None:
            return False
        try:
            # scripts/run exec'd into this process: the set-up is our child (unless the
            # shell reaped it first), and reaping it here leaves no zombie behind.
            done, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:
            done, status = -1, 0
        if done == 0 or (done == -1 and Path(f"/proc/{self._pid}").exists()):
            return True
        written = self._written_status()
        if written is not None:
            self._exit_code = written
        elif done > 0:
            self._exit_code = os.waitstatus_to_exitcode(status)
        else:  # gone, and nobody can say how: only a status file would tell a failure
            self._exit_code = 0 if self._status is None else -1
        return False

    def _written_status(self) -> int | None:
        if self._status is None:
            return None
        with contextlib.suppress(OSError, ValueError):
            return int(self._status.read_text().strip())
        return None

    def _log_tail(self, lines: int) -> str:
        if self._log is None:
            return ""
        with contextlib.suppress(OSError):
            text = self._log.read_text(errors="replace").strip().splitlines()
            return "\n".join(text[-lines:])
        return ""

    def _doing(self) -> str:
        return self._log_tail(1).strip() or "starting"

    def _how(self) -> str:
        if self._exit_code == -1:
            return "it ended without writing its exit status: killed?"
        return f"exit {self._exit_code}"

    async def ready(self, progress: Progress) -> None:
        """Return once no set-up is running (waiting at most the start timeout);
        SessionNotReady while it still runs, or when it failed."""
        deadline = time.monotonic() + self._wait_s
        while self._running():
            elapsed = time.monotonic() - self._started
            if time.monotonic() >= deadline:
                raise SessionNotReady(
                    f"this machine is still being set up ({self._doing()}; {elapsed:.0f} s "
                    "so far: installing the Docker engine or building the sandbox image "
                    "takes a few minutes the first time). Retry in 30 s.",
                    {"retry_after_ms": _RETRY_AFTER_MS},
                )
            await progress(f"setting up this machine ({elapsed:.0f} s): {self._doing()}")
            await asyncio.sleep(_POLL_S)
        if self._exit_code not in (None, 0):
            raise SessionNotReady(
                f"setting up this machine failed ({self._how()}). The end of its "
                f"log ({self._log}):\n{self._log_tail(8)}\nFix what it says (or run "
                "scripts/run in a terminal to see it), then restart the server.",
                {"retry_after_ms": _RETRY_AFTER_MS},
            )
