"""Background processes and terminals of a sandbox: started, listed, read, written to,
signalled and waited for, through the runtime gate every capability call passes (owner,
expiry and capability checked, the session started if need be, activity touched).

Ship owns the processes (`ship/protocol.py` has their models); they live as long as the
session: a stop, an idle reap or a restore ends them all, and a sandbox without a
session has none (listing them then starts nothing). A process that is not there is
`not_found`, naming it and saying how to see the others. How many may run at once is
the profile's `max_processes`, which Ship enforces (Bay passes it at the session's
start); a start over it is `quota_exceeded`, naming the limit.

Two hooks serve other services: the reaper asks `printed_since` (a process counts as use
only while it prints), and an expose asks `await_listener` (a server just started is
given a few seconds to listen before its port is exposed).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from bay_mcp.adapters.ship_client import OutputSink, ShipClient, ShipEndpoint
from bay_mcp.errors import BayError, NotFound, QuotaExceeded
from bay_mcp.managers import Progress, no_progress
from bay_mcp.managers.sessions import SessionManager
from bay_mcp.services.ports import PortService
from bay_mcp.services.process_inputs import (
    OutputRead,
    ProcessInput,
    ProcessStart,
    ProcessWait,
    SignalSend,
    TerminalSize,
)
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.views import PortUrl, ProcessList, ProcessView
from bay_mcp.settings import Capability
from bay_mcp.storage.models import utcnow
from ship import protocol

log = logging.getLogger(__name__)

# Processes run commands: the profile needs the shell.
CAPABILITY: Capability = "shell"
NO_SESSION = (
    "The sandbox is not running, so it has no processes: any it had ended when its session "
    "stopped (stop_sandbox, an idle stop or a restore). process_start starts it again."
)
# expose_port after a process_start: a process this young that runs without listening on
# the port yet is given this long to (polled every LISTEN_POLL_S).
LISTEN_GRACE_S = 30
LISTEN_WAIT_S = 10.0
LISTEN_POLL_S = 0.25
# A wait for output or an end holds the runtime gate this long at most at a time.
SLICE_S = 5.0
# What a person's new terminal runs: an interactive login shell (the run's environment,
# `.bay_env.sh` included), listed under this name.
SHELL_COMMAND = "exec bash -l"
SHELL_NAME = "terminal"
# A kill (DELETE on REST): SIGTERM, then SIGKILL if it is still running after this long.
KILL_GRACE_S = 5
_PROCESS_ID = re.compile(protocol.PROCESS_ID_PATTERN)


def missing(sandbox_id: str, process_id: str) -> NotFound:
    return NotFound(
        f"process {process_id} not found in sandbox {sandbox_id}: it never existed, or it "
        "ended with the sandbox's session (a stop, an idle stop or a restore ends every "
        "process). process_list (GET …/processes) shows the sandbox's processes; start it "
        "again with process_start",
        {"process_id": process_id},
    )


def _over_limit(sandbox_id: str, exc: QuotaExceeded) -> QuotaExceeded:
    """Ship's refusal at the running-process limit, naming the profile's setting."""
    count = exc.details.get("max")
    many = "as many processes as" if count is None else f"{count} processes,"
    return QuotaExceeded(
        f"sandbox {sandbox_id} already runs {many} the limit of its profile "
        "(max_processes): end one first (process_signal SIGTERM, or DELETE "
        "…/processes/{process_id}), or wait for one to finish",
        {**exc.details, "limit": protocol.RUNNING_PROCESSES_LIMIT},
    )


def _chunk(size: int) -> int:
    """A read's size in bytes, within what Ship serves at once."""
    return min(max(1, size), protocol.MAX_OUTPUT_CHUNK_BYTES)


def _view(info: protocol.ProcessInfo, urls: list[PortUrl] | None = None) -> ProcessView:
    return ProcessView(**info.model_dump(), urls=urls or [])


class ProcessService:
    def __init__(
        self,
        sandboxes: SandboxService,
        sessions: SessionManager,
        ship: ShipClient,
        ports: PortService,
    ) -> None:
        self._sandboxes = sandboxes
        self._sessions = sessions
        self._ship = ship
        self._ports = ports

    @asynccontextmanager
    async def _runtime(
        self,
        owner: str,
        sandbox_id: str,
        process_id: str | None = None,
        progress: Progress = no_progress,
    ) -> AsyncIterator[ShipEndpoint]:
        """The sandbox's Ship, through the runtime gate; a process id that cannot be one
        and a process Ship does not know are not_found, naming it."""
        if process_id is not None and not _PROCESS_ID.match(process_id):
            raise missing(sandbox_id, process_id)
        async with self._sandboxes.runtime(owner, sandbox_id, CAPABILITY, progress) as endpoint:
            try:
                yield endpoint
            except NotFound as exc:  # only Ship's calls run here: it knows no such process
                if process_id is None:
                    raise
                raise missing(sandbox_id, process_id) from exc

    async def _idle(self, owner: str, sandbox_id: str) -> bool:
        """Whether the sandbox has no session (so no process); NotFound if not the owner's.
        An expired one is not idle: the gate then says it expired. One read, the one the
        gate makes (not the sandbox's whole view, which asks the driver too)."""
        sandbox, _, session = await self._sandboxes.catalogue.row_for_a_call(owner, sandbox_id)
        expired = sandbox.expires_at is not None and sandbox.expires_at <= utcnow()
        return session is None and not expired

    async def start(
        self, owner: str, sandbox_id: str, request: ProcessStart, progress: Progress = no_progress
    ) -> ProcessView:
        """Start `request` in the background (the sandbox started if need be); answers at
        once with its id. QuotaExceeded when the sandbox runs its limit of processes."""
        wire = protocol.ProcessStartRequest(
            command=request.command,
            cwd=request.cwd,
            env=request.env or {},
            name=request.name,
            pty=request.pty,
        )
        async with self._runtime(owner, sandbox_id, progress=progress) as endpoint:
            info = await self._started(endpoint, sandbox_id, wire)
        return _view(info)

    async def _started(
        self, endpoint: ShipEndpoint, sandbox_id: str, wire: protocol.ProcessStartRequest
    ) -> protocol.ProcessInfo:
        try:
            return await self._ship.process_start(endpoint, wire)
        except QuotaExceeded as exc:
            if exc.details.get(protocol.LIMIT_DETAIL) != protocol.RUNNING_PROCESSES_LIMIT:
                raise
            raise _over_limit(sandbox_id, exc) from exc

    async def start_shell(
        self, owner: str, sandbox_id: str, size: TerminalSize
    ) -> tuple[ShipEndpoint, protocol.ProcessInfo]:
        """A new login shell on a terminal of `size` (the sandbox started if need be), and
        the Ship that runs it: for a person's terminal (services/terminals.py)."""
        wire = protocol.ProcessStartRequest(
            command=SHELL_COMMAND, name=SHELL_NAME, pty=True, rows=size.rows, cols=size.cols
        )
        async with self._runtime(owner, sandbox_id) as endpoint:
            return endpoint, await self._started(endpoint, sandbox_id, wire)

    async def attach(
        self, owner: str, sandbox_id: str, process_id: str
    ) -> tuple[ShipEndpoint, protocol.ProcessInfo]:
        """The Ship that runs a process, and the process as it is: for a terminal held
        open on it (services/terminals.py). NotFound naming it."""
        await self._not_idle(owner, sandbox_id, process_id)
        async with self._runtime(owner, sandbox_id, process_id) as endpoint:
            return endpoint, await self._ship.process_get(endpoint, process_id)

    async def list(self, owner: str, sandbox_id: str) -> ProcessList:
        """The sandbox's processes, oldest first, running and ended (a bounded number of
        ended ones), with the URLs of their exposed ports. None without a session, the
        note saying why (and no session is started to say so)."""
        if await self._idle(owner, sandbox_id):
            return ProcessList(processes=[], note=NO_SESSION)
        async with self._runtime(owner, sandbox_id) as endpoint:
            listed = await self._ship.process_list(endpoint)
        urls = await self._urls(owner, sandbox_id)
        return ProcessList(processes=[_view(info, _of(info, urls)) for info in listed.processes])

    async def get(self, owner: str, sandbox_id: str, process_id: str) -> ProcessView:
        """One process, with the URLs of its exposed ports. NotFound naming it."""
        await self._not_idle(owner, sandbox_id, process_id)
        async with self._runtime(owner, sandbox_id, process_id) as endpoint:
            info = await self._ship.process_get(endpoint, process_id)
        return _view(info, _of(info, await self._urls(owner, sandbox_id)))

    async def _not_idle(self, owner: str, sandbox_id: str, process_id: str) -> None:
        if await self._idle(owner, sandbox_id):
            raise missing(sandbox_id, process_id)

    async def _urls(self, owner: str, sandbox_id: str) -> dict[int, str]:
        return {port.port: port.url for port in await self._ports.list(owner, sandbox_id)}

    async def output(
        self, owner: str, sandbox_id: str, process_id: str, request: OutputRead, max_bytes: int
    ) -> protocol.ProcessOutput:
        """Output since `request.since` (a byte offset; none: the oldest kept), at most
        `max_bytes` of it; when none is new, waits up to `request.wait_seconds` for some
        or for the end. `more` says more is already there; `next_offset` is the next
        call's since."""
        await self._not_idle(owner, sandbox_id, process_id)
        deadline = time.monotonic() + request.wait_seconds
        return await self._read(owner, sandbox_id, process_id, request.since, deadline, max_bytes)

    async def _read(
        self,
        owner: str,
        sandbox_id: str,
        process_id: str,
        since: int | None,
        deadline: float,
        size: int,
    ) -> protocol.ProcessOutput:
        """One read, waiting until `deadline` for output or the end when none is new. The
        wait is cut in slices of at most SLICE_S, each its own pass through the runtime
        gate: a snapshot waiting for the sandbox's calls gets in between two."""
        while True:
            left = max(0.0, deadline - time.monotonic())
            async with self._runtime(owner, sandbox_id, process_id) as endpoint:
                chunk = await self._ship.process_output(
                    endpoint, process_id, since, min(left, SLICE_S), _chunk(size)
                )
            if chunk.text or chunk.dropped_bytes or chunk.process.state != "running":
                return chunk
            if left <= SLICE_S:
                return chunk

    async def follow(
        self,
        owner: str,
        sandbox_id: str,
        process_id: str,
        request: OutputRead,
        on_output: OutputSink,
        max_chars: int,
    ) -> protocol.ProcessOutput:
        """Follow the output for up to `request.wait_seconds`, telling `on_output` each new
        piece, until the process ends or `max_chars` have come (then `more` is set and
        `next_offset` says where to go on). The answer holds all that was told; output
        the ring dropped meanwhile is counted in `dropped_bytes` and marked in the text."""
        await self._not_idle(owner, sandbox_id, process_id)
        deadline = time.monotonic() + request.wait_seconds
        pieces: list[str] = []
        gathered = dropped = 0
        first: protocol.ProcessOutput | None = None
        since = request.since
        while True:
            room = max_chars - gathered
            chunk = await self._read(owner, sandbox_id, process_id, since, deadline, room)
            if first is None:
                first = chunk
            elif chunk.dropped_bytes:
                lost = f"\n[{chunk.dropped_bytes} bytes dropped here: the log has them]\n"
                pieces.append(lost)
                on_output(lost)
            dropped += chunk.dropped_bytes
            if chunk.text:
                pieces.append(chunk.text)
                gathered += len(chunk.text)
                on_output(chunk.text)
            since = chunk.next_offset
            ended = chunk.process.state != "running" and not chunk.more
            if ended or gathered >= max_chars or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0)  # a chunk may come back at once: let others run
        assert first is not None
        return chunk.model_copy(
            update={
                "text": "".join(pieces),
                "offset": first.offset,
                "dropped_bytes": dropped,
            }
        )

    async def input(
        self, owner: str, sandbox_id: str, process_id: str, request: ProcessInput
    ) -> protocol.ProcessInputResult:
        """Write text, then named keys, to the process's input (its terminal's, with a
        pty), then close it when asked."""
        await self._not_idle(owner, sandbox_id, process_id)
        wire = protocol.ProcessInputRequest(
            text=request.text or "", keys=request.keys or [], close_stdin=request.close_stdin
        )
        async with self._runtime(owner, sandbox_id, process_id) as endpoint:
            return await self._ship.process_input(endpoint, process_id, wire)

    async def signal(
        self, owner: str, sandbox_id: str, process_id: str, request: SignalSend
    ) -> protocol.ProcessSignalResult:
        """Send a signal to the process's group; `sent` is false when nothing of it ran any
        more."""
        await self._not_idle(owner, sandbox_id, process_id)
        async with self._runtime(owner, sandbox_id, process_id) as endpoint:
            return await self._ship.process_signal(endpoint, process_id, request.bare)

    async def wait(
        self, owner: str, sandbox_id: str, process_id: str, request: ProcessWait
    ) -> ProcessView:
        """The process once it has ended, or as it is after `request.timeout` seconds
        (still running: not an error)."""
        await self._not_idle(owner, sandbox_id, process_id)
        deadline = time.monotonic() + request.timeout
        while True:  # in slices, as a read waits (see _read)
            left = max(0.0, deadline - time.monotonic())
            async with self._runtime(owner, sandbox_id, process_id) as endpoint:
                info = await self._ship.process_wait(endpoint, process_id, min(left, SLICE_S))
            if info.state != "running" or left <= SLICE_S:
                return _view(info)

    async def kill(self, owner: str, sandbox_id: str, process_id: str) -> ProcessView:
        """End the process and all it started: SIGTERM, then SIGKILL to whatever of its
        group still runs after KILL_GRACE_S (the leader, or jobs it left behind when it
        exited: `server &`, a fork bomb)."""
        await self._not_idle(owner, sandbox_id, process_id)
        async with self._runtime(owner, sandbox_id, process_id) as endpoint:
            sent = await self._ship.process_signal(endpoint, process_id, "TERM")
            if not sent.sent:  # nothing of it ran any more
                return _view(sent.process)
            deadline = time.monotonic() + KILL_GRACE_S
            info = await self._ship.process_wait(endpoint, process_id, KILL_GRACE_S)
            # The leader ended within the grace: what it left behind gets the rest of it
            # (a CONT reaches the group harmlessly, and says whether any of it is left).
            while time.monotonic() < deadline:
                if not (await self._ship.process_signal(endpoint, process_id, "CONT")).sent:
                    return _view(info)
                await asyncio.sleep(LISTEN_POLL_S)
            killed = await self._ship.process_signal(endpoint, process_id, "KILL")
            if killed.sent:
                info = await self._ship.process_wait(endpoint, process_id, KILL_GRACE_S)
        return _view(info)

    async def screen(self, owner: str, sandbox_id: str, process_id: str) -> protocol.TerminalScreen:
        """The terminal's screen as text, the cursor marked. A process without a pty
        has none (validation_error)."""
        await self._not_idle(owner, sandbox_id, process_id)
        async with self._runtime(owner, sandbox_id, process_id) as endpoint:
            return await self._ship.terminal_screen(endpoint, process_id)

    async def resize(
        self, owner: str, sandbox_id: str, process_id: str, request: TerminalSize
    ) -> ProcessView:
        """Give the process's terminal a new size (the program is told, SIGWINCH)."""
        await self._not_idle(owner, sandbox_id, process_id)
        async with self._runtime(owner, sandbox_id, process_id) as endpoint:
            resized = await self._ship.terminal_resize(
                endpoint, process_id, request.rows, request.cols
            )
        return _view(resized)

    async def await_listener(self, endpoint: ShipEndpoint, port: int) -> None:
        """Before `port` is exposed: while a process started less than LISTEN_GRACE_S ago
        runs and no running process listens on the port, wait for one to (at most
        LISTEN_WAIT_S), so an expose_port right after a process_start finds its server
        up. Returns at once when nothing was just started; never fails the expose."""
        deadline = time.monotonic() + LISTEN_WAIT_S
        while True:
            try:
                listed = await self._ship.process_list(endpoint)
            except BayError as exc:
                log.info("could not list processes before exposing port %d: %s", port, exc)
                return
            running = [info for info in listed.processes if info.state == "running"]
            if any(port in info.ports for info in running):
                return
            recent = utcnow() - timedelta(seconds=LISTEN_GRACE_S)
            if not any(info.started_at >= recent for info in running):
                return
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(LISTEN_POLL_S)

    async def printed_since(self, sandbox_id: str, since: datetime) -> bool:
        """Whether a running process of the sandbox's session printed since `since` (the
        idle rule: a process counts as use only while it prints). Asks the session's Ship
        without starting one; a Ship that does not answer is taken as silence, logged."""
        session = await self._sessions.current(sandbox_id)
        if session is None or session.endpoint is None or session.observed_state != "ready":
            return False
        endpoint = ShipEndpoint(session.endpoint, session.ship_token, session.id)
        try:
            listed = await self._ship.process_list(endpoint)
        except BayError as exc:
            log.warning("sandbox %s: could not list its processes: %s", sandbox_id, exc.message)
            return False
        return any(
            info.state == "running"
            and info.last_output_at is not None
            and info.last_output_at >= since
            for info in listed.processes
        )


def _of(info: protocol.ProcessInfo, urls: dict[int, str]) -> list[PortUrl]:
    return [PortUrl(port=port, url=urls[port]) for port in info.ports if port in urls]
