"""The sandbox's background processes: started, listed, read, signalled, ended with Ship.

At most `max_processes` run at once; ended ones stay listed (the oldest forgotten past
`max_ended`). Their logs stay in the workspace after that, but each start prunes the log
directory to at most `max_logs` files, the oldest first and never a listed process's
(the rule is in `ship.processes.logs`). When Ship stops, every process gets SIGTERM, then
SIGKILL after a short grace.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path

from ship.errors import ProcessNotFound, QuotaExceeded, ResourceExhausted
from ship.processes.logs import LOG_DIRECTORY, log_name, prune_logs
from ship.processes.output import ProcessLog
from ship.processes.proc_stats import GroupUsage, usage_by_session
from ship.processes.process import Process
from ship.protocol import (
    LIMIT_DETAIL,
    RUNNING_PROCESSES_LIMIT,
    ProcessInfo,
    ProcessInputRequest,
    ProcessInputResult,
    ProcessList,
    ProcessOutput,
    ProcessOutputRequest,
    ProcessSignalResult,
    ProcessStartRequest,
    SignalName,
    TerminalScreen,
)
from ship.settings import DEFAULT_MAX_PROCESS_LOGS

log = logging.getLogger(__name__)

# At Ship's end: how long processes get to exit on SIGTERM, then to be reaped after SIGKILL.
TERM_GRACE_S = 2.0
KILL_WAIT_S = 2.0
# Output reads and screens (a terminal's every keystroke) reuse figures this recent: a
# scan of /proc takes ~10 ms. Info, lists and waits always scan afresh.
FIGURES_MAX_AGE_S = 1.0


class ProcessManager:
    def __init__(
        self,
        workspace: Path,
        env: dict[str, str],
        *,
        ring_bytes: int,
        log_bytes: int,
        max_processes: int,
        max_ended: int,
        max_logs: int = DEFAULT_MAX_PROCESS_LOGS,
    ) -> None:
        self.workspace = workspace
        self.env = env
        self.ring_bytes = ring_bytes
        self.log_bytes = log_bytes
        self.max_processes = max_processes
        self.max_ended = max_ended
        self.max_logs = max_logs
        # Held while a process starts: the running-process limit counts every start, and
        # a pruning never sees a new log before its process is listed (it would go).
        self._starting = asyncio.Lock()
        self._processes: dict[str, Process] = {}  # in start order
        self._figures: dict[int, tuple[float, GroupUsage]] = {}  # leader -> (when, usage)

    def _get(self, process_id: str) -> Process:
        process = self._processes.get(process_id)
        if process is None:
            raise ProcessNotFound(
                f"no process {process_id!r} in this session: list the processes for their "
                "ids (ended ones are forgotten after a while, and all end with the session)"
            )
        return process

    def _running(self) -> list[Process]:
        return [process for process in self._processes.values() if process.running]

    async def _usage(self, processes: list[Process], max_age: float = 0.0) -> dict[int, GroupUsage]:
        """The running ones' figures, scanned afresh unless known from `max_age` ago."""
        now = time.monotonic()
        leaders = [process.pid for process in processes if process.running]
        known = {
            leader: self._figures[leader][1]
            for leader in leaders
            if leader in self._figures and now - self._figures[leader][0] <= max_age
        }
        stale = [leader for leader in leaders if leader not in known]
        if stale:
            scanned = await asyncio.to_thread(usage_by_session, stale)
            self._figures = {
                leader: figures
                for leader, figures in self._figures.items()
                if now - figures[0] <= FIGURES_MAX_AGE_S
            }
            self._figures.update((leader, (now, usage)) for leader, usage in scanned.items())
            known.update(scanned)
        return known

    async def _info(self, process: Process) -> ProcessInfo:
        return process.info((await self._usage([process])).get(process.pid))

    async def start(
        self, request: ProcessStartRequest, cwd: Path, cwd_relative: str
    ) -> ProcessInfo:
        """Start `request.command`; QuotaExceeded at the running-process limit."""
        async with self._starting:
            process = await self._launch(request, cwd, cwd_relative)
            await self._forget_oldest_ended()
            await self._prune_logs()
        log.info("process %s started: pid %d, pty %s", process.id, process.pid, request.pty)
        return await self._info(process)

    async def _launch(self, request: ProcessStartRequest, cwd: Path, cwd_relative: str) -> Process:
        if len(self._running()) >= self.max_processes:
            raise QuotaExceeded(
                f"{self.max_processes} processes are running, this sandbox's limit: wait for "
                "one to end or signal one (TERM or KILL) before starting another",
                {LIMIT_DETAIL: RUNNING_PROCESSES_LIMIT, "max": self.max_processes},
            )
        process_id = self._new_id()
        log_relative = LOG_DIRECTORY / log_name(process_id)
        log_file = await asyncio.to_thread(
            ProcessLog, self.workspace / log_relative, self.log_bytes
        )
        process = Process(
            request,
            process_id=process_id,
            cwd=cwd,
            cwd_relative=cwd_relative,
            env=self.env,
            log_file=log_file,
            log_relative=log_relative.as_posix(),
            ring_bytes=self.ring_bytes,
        )
        try:
            process.start()
        except BlockingIOError as exc:
            log_file.close()
            raise ResourceExhausted(
                "the sandbox has no free processes left (its pids limit): end some of its "
                "processes, or stop the sandbox to start afresh"
            ) from exc
        except BaseException:
            log_file.close()
            raise
        self._processes[process_id] = process
        return process

    def _new_id(self) -> str:
        while True:
            process_id = f"proc-{secrets.token_hex(4)}"
            if process_id not in self._processes:
                return process_id

    async def _forget_oldest_ended(self) -> None:
        ended = [process for process in self._processes.values() if not process.running]
        for process in ended[: max(len(ended) - self.max_ended, 0)]:
            # A list and a start may both forget it at once: the second finds it gone.
            if self._processes.pop(process.id, None) is None:
                continue
            # Its log stays in the workspace until a start prunes it; output a background
            # child still writes is no longer followed.
            await process.close()

    async def _prune_logs(self) -> None:
        try:
            deleted = await asyncio.to_thread(
                prune_logs, self.workspace, list(self._processes), self.max_logs
            )
        except OSError as exc:  # a read-only cargo, or a link in the log directory's place
            log.warning("old process logs in %s are not pruned: %s", LOG_DIRECTORY, exc)
            return
        if deleted:
            log.info("%d old process logs deleted (at most %d kept)", len(deleted), self.max_logs)

    async def list(self) -> ProcessList:
        await self._forget_oldest_ended()
        processes = list(self._processes.values())
        usage = await self._usage(processes)
        return ProcessList(processes=[p.info(usage.get(p.pid)) for p in processes])

    async def info(self, process_id: str) -> ProcessInfo:
        return await self._info(self._get(process_id))

    async def output(self, process_id: str, request: ProcessOutputRequest) -> ProcessOutput:
        """New output since `request.since`, waiting (bounded) for some or for the end."""
        process = self._get(process_id)
        offset, data, dropped = await process.read_output(
            request.since, request.wait_seconds, request.max_bytes
        )
        usage = (await self._usage([process], FIGURES_MAX_AGE_S)).get(process.pid)
        return process.output_answer(offset, data, dropped, usage)

    async def send_input(self, process_id: str, request: ProcessInputRequest) -> ProcessInputResult:
        process = self._get(process_id)
        written = await process.send_input(request.text, request.keys, request.close_stdin)
        return ProcessInputResult(written=written)

    async def signal(self, process_id: str, name: SignalName) -> ProcessSignalResult:
        process = self._get(process_id)
        sent = await process.signal(name)
        return ProcessSignalResult(sent=sent, process=await self._info(process))

    async def wait(self, process_id: str, timeout: float) -> ProcessInfo:
        process = self._get(process_id)
        await process.wait(timeout)
        return await self._info(process)

    async def resize(self, process_id: str, rows: int, cols: int) -> ProcessInfo:
        process = self._get(process_id)
        await process.resize(rows, cols)
        return await self._info(process)

    async def screen(self, process_id: str) -> TerminalScreen:
        process = self._get(process_id)
        usage = (await self._usage([process], FIGURES_MAX_AGE_S)).get(process.pid)
        return await process.render_screen(usage)

    async def shutdown(self) -> None:
        """SIGTERM to every running process, SIGKILL to those still there after a
        grace; then everything let go. Bounded: TERM_GRACE_S + KILL_WAIT_S at most."""
        running = self._running()
        started = time.monotonic()
        for process in running:
            await process.signal("TERM")
        await _all_ended(running, TERM_GRACE_S)
        stubborn = [process for process in running if process.running]
        for process in stubborn:
            await process.signal("KILL")
        await _all_ended(stubborn, KILL_WAIT_S)
        if running:
            left = sum(process.running for process in running)
            log.info(
                "%d processes ended at shutdown in %.1f s (%d killed after the grace, "
                "%d not seen to end)",
                len(running),
                time.monotonic() - started,
                len(stubborn),
                left,
            )
        for process in list(self._processes.values()):
            await process.close()
        self._processes.clear()


async def _all_ended(processes: list[Process], timeout: float) -> None:
    if not processes:
        return
    waits = [asyncio.ensure_future(process.ended.wait()) for process in processes]
    try:
        await asyncio.wait(waits, timeout=timeout)
    finally:
        for waiting in waits:
            waiting.cancel()
