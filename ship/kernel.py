"""A persistent Jupyter kernel (one per language and container: `ship/languages.py`
says how each starts), driven through jupyter_client.

Executions are serialised by a lock; every message is matched to its request by
the `msg_id` of its parent, so output of an earlier (timed-out) run never leaks
into a later one. The timeout is a total wall-clock limit, waiting included.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any

from ship.kernel_manager import ShipKernelManager, kernel_manager, until_ready
from ship.kernel_messages import Collector
from ship.kernel_spawn import SpawnedKernel
from ship.kernel_stdout import KernelStdout
from ship.languages import KernelLaunch, kernel_environment
from ship.output import OutputListener
from ship.protocol import KernelState, PythonError, PythonExecResult, ResourceReport
from ship.resources import Cgroup, ProcessMeter
from ship.rich_output import OutputFiles

log = logging.getLogger(__name__)

# How long an interrupted kernel gets to come back to idle before it is restarted.
_INTERRUPT_GRACE_S = 1.5
# How long an interrupted run that still delivers output may take to end.
_INTERRUPT_DRAIN_CAP_S = 8.0
# A kernel without an output guard queues everything it prints for Ship, faster than
# Ship reads it: once a run has printed this much past the output budget, it is
# stopped (interrupted, its state kept), before the queue costs the kernel its memory.
FLOOD_BYTES = 16 * 1024 * 1024
# How long a run of a kernel with late results (languages.py) that showed no value by
# its reply waits for one: fifteen times the latest measured, paid only by runs
# without a value.
LATE_RESULT_GRACE_S = 0.01


def dropped_in_kernel(reply: dict[str, Any] | None) -> int:
    """Bytes of output the kernel guard dropped, from its execute_reply payload."""
    payloads = (reply or {}).get("content", {}).get("payload") or []
    for payload in payloads:
        if isinstance(payload, dict) and payload.get("source") == "ship.output_dropped":
            dropped = payload.get("bytes")
            return dropped if isinstance(dropped, int) and dropped > 0 else 0
    return 0


class Kernel:
    """One language's kernel. Start with `start()` (or a first `execute`), stop with
    `shutdown()`."""

    def __init__(
        self,
        launch: KernelLaunch,
        *,
        cwd: Path,
        env: dict[str, str],
        max_output_bytes: int,
        cgroup: Cgroup,
        files: OutputFiles | None = None,
        spawned: SpawnedKernel | None = None,
    ):
        """`spawned`: this kernel's process, started ahead with the same launch and
        environment (kernel_spawn.py); the first start adopts it."""
        self.launch = launch
        self._cwd = cwd
        self._env = kernel_environment(launch, env, max_output_bytes)
        self._spawned = spawned
        self._max_output_bytes = max_output_bytes
        self._lock = asyncio.Lock()
        self._km: ShipKernelManager | None = None
        self._kc: Any = None
        self._runtime_dir: Path | None = None  # made by the first start
        self._ready = asyncio.Event()
        self._running_msg_id: str | None = None
        self._start_failed = False
        self._cgroup = cgroup
        self._files = files  # where displayed HTML is saved
        self._stdout: KernelStdout | None = None  # launch.prints_to_stdout

    async def start(self) -> None:
        """Start the kernel and wait until it answers; safe to call once."""
        async with self._lock:
            try:
                await self._start_locked()
            except Exception:
                self._start_failed = True
                raise

    @property
    def state(self) -> KernelState:
        if self._ready.is_set():
            return "ready"
        return "failed" if self._start_failed else "starting"

    async def _start_locked(self) -> None:
        spawned, self._spawned = self._spawned, None  # adopted once; a restart launches
        if spawned is not None:
            self._runtime_dir = spawned.runtime_dir
        if self._runtime_dir is None:
            self._runtime_dir = Path(tempfile.mkdtemp(prefix="ship-kernel-"))
        km = kernel_manager(self.launch, self._runtime_dir, spawned)
        # Held from the moment the process exists: a start that fails or is cancelled
        # (Ship shutting down meanwhile) is stopped like a running kernel, not leaked.
        self._km = km
        try:
            if self.launch.prints_to_stdout:
                await km.start_kernel(cwd=str(self._cwd), env=self._env, stdout=subprocess.PIPE)
                self._stdout = KernelStdout(self._process().stdout)
            else:
                await km.start_kernel(cwd=str(self._cwd), env=self._env)
            self._kc = km.client()
            # No heartbeat channel: whether the kernel lives is its process's state
            # (is_alive), and the channel's thread and socket per kernel bought nothing
            # (one failed in a busy CI run with "Too many open files" as it started).
            self._kc.start_channels(hb=False)
            await until_ready(self._kc, self.is_alive, self.launch.title)
        except BaseException:
            await asyncio.shield(self._stop_locked())
            raise
        self._ready.set()
        log.info("%s kernel ready", self.launch.name)

    async def _stop_locked(self) -> None:
        kc, km = self._kc, self._km
        self._kc = self._km = None
        self._ready.clear()
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None
        # The client and the manager each made a zmq context: close their sockets now
        # rather than leave them to the garbage collector (a ResourceWarning each).
        if kc is not None:
            kc.stop_channels()
            kc.context.destroy(linger=0)
        if km is not None:
            try:
                await km.shutdown_kernel(now=True)
            except Exception:
                log.exception("kernel shutdown failed; the process may linger")
            km.context.destroy(linger=0)

    async def shutdown(self) -> None:
        async with self._lock:
            await self._stop_locked()
            if self._spawned is not None:  # started ahead, never adopted
                self._spawned.process.kill()
                await asyncio.to_thread(self._spawned.process.wait)
                self._runtime_dir = self._runtime_dir or self._spawned.runtime_dir
                self._spawned = None
        # The connection file and sockets: a Ship under tests on the host would leave one
        # directory per kernel in /tmp.
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)

    async def is_alive(self) -> bool:
        return self._km is not None and bool(await self._km.is_alive())

    def _process(self) -> Any:
        """The kernel's Popen, held by jupyter_client's local provisioner."""
        return getattr(getattr(self._km, "provisioner", None), "process", None)

    def _exit_signal(self) -> int | None:
        """The signal that ended the kernel, once it has been reaped (is_alive does)."""
        code = getattr(self._process(), "returncode", None)
        return -code if isinstance(code, int) and code < 0 else None

    async def interrupt(self) -> bool:
        """Interrupt the running execution, if any; return whether one was running."""
        if self._running_msg_id is None or self._km is None:
            return False
        await self._km.interrupt_kernel()
        return True

    async def execute(
        self, code: str, timeout: float, listener: OutputListener | None = None
    ) -> PythonExecResult:
        """Run `code`; a result comes back within `timeout` + 2 s (+ 8 s for a run still
        printing after its interrupt). `listener` is told the output as it comes."""
        started = time.monotonic()
        deadline = started + timeout
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout=timeout)
        except TimeoutError:
            return self._timeout_result(
                Collector(self._max_output_bytes),
                timeout,
                started,
                "the kernel was busy with an earlier execution for the whole timeout; "
                "nothing was run",
            )
        try:
            return await self._execute_locked(code, timeout, started, deadline, listener)
        finally:
            self._lock.release()

    async def _execute_locked(
        self,
        code: str,
        timeout: float,
        started: float,
        deadline: float,
        listener: OutputListener | None,
    ) -> PythonExecResult:
        restarted = False
        if not await self.is_alive():
            had_kernel = self._km is not None
            await self._stop_locked()
            await self._start_locked()
            restarted = had_kernel
        collector = Collector(self._max_output_bytes, listener)
        meter = ProcessMeter(self._cgroup, getattr(self._process(), "pid", None))
        if self._stdout is not None:
            self._stdout.sink = collector.output
        msg_id: str = self._kc.execute(code, allow_stdin=False, stop_on_error=True)
        self._running_msg_id = msg_id
        try:
            return await self._run(msg_id, collector, meter, started, deadline, restarted)
        except asyncio.CancelledError:
            # The caller went away: stop the code rather than let it run on unseen.
            await self._interrupt_and_settle(msg_id)
            raise
        finally:
            self._running_msg_id = None
            if self._stdout is not None:
                self._stdout.sink = None

    async def _run(
        self,
        msg_id: str,
        collector: Collector,
        meter: ProcessMeter,
        started: float,
        deadline: float,
        restarted: bool,
    ) -> PythonExecResult:
        """Collect the run `msg_id` to its end and make its result."""
        outcome = await self._collect(msg_id, collector, deadline)
        if self._stdout is not None:
            self._stdout.drain()
        await collector.finish(self._files)
        notice = (
            f"the {self.launch.title} kernel had died and was restarted: variables and "
            "imports from earlier calls are gone"
            if restarted
            else None
        )
        if outcome == "died":
            report = meter.finish(timed_out=False, killed_by=self._exit_signal())
            how = report.kill_summary() or "exited during this execution"
            collector.error = PythonError(
                ename="KernelDied",
                evalue=f"the {self.launch.title} kernel {how}; its state is lost "
                "and a fresh kernel starts with the next call",
                traceback=[],
            )
            return self._result(collector, started, report, restarted=restarted, notice=notice)
        if outcome == "flood":
            return await self._stopped_flood(msg_id, collector, meter, started)
        if outcome == "timeout":
            settled = await self._interrupt_and_settle(msg_id)
            # Measured before a restart can replace the process whose counters it reads.
            report = meter.finish(timed_out=True, killed_by=None)
            detail = "the kernel was interrupted; its state is kept"
            if not settled:
                await self._stop_locked()
                await self._start_locked()
                restarted = True
                detail = (
                    "the code did not stop when interrupted, so the kernel was restarted: "
                    "variables and imports from earlier calls are gone"
                )
            result = self._timeout_result(collector, deadline - started, started, detail)
            result.kernel_restarted = restarted
            result.resources = report
            return result
        reply = await self._drain_reply(msg_id)
        if self.launch.late_results and not collector.resulted and collector.error is None:
            await self._late_result(msg_id, collector)
        collector.output.drop(dropped_in_kernel(reply))
        report = meter.finish(timed_out=False, killed_by=None)
        return self._result(collector, started, report, restarted=restarted, notice=notice)

    async def _stopped_flood(
        self, msg_id: str, collector: Collector, meter: ProcessMeter, started: float
    ) -> PythonExecResult:
        """Stop a run that prints without end: interrupted (restarted if it will not
        stop), what it printed within the budget kept, the error saying why."""
        settled = await self._interrupt_and_settle(msg_id)
        report = meter.finish(timed_out=False, killed_by=None)
        kept = "its state is kept"
        if not settled:
            await self._stop_locked()
            await self._start_locked()
            kept = "it did not stop, so the kernel was restarted and its state is gone"
        collector.error = PythonError(
            ename="OutputLimitExceeded",
            evalue=f"the run printed more than {FLOOD_BYTES // 2**20} MiB past the "
            f"{self._max_output_bytes // 2**20} MiB output limit, so it was interrupted; "
            f"{kept}. Write large output to a file and read what you need of it",
            traceback=[],
        )
        return self._result(collector, started, report, restarted=not settled, notice=None)

    async def _collect(self, msg_id: str, collector: Collector, deadline: float) -> str:
        """Read iopub until this execution is idle; return 'done', 'timeout', 'died' or
        'flood' (an unguarded kernel printing far past the budget)."""
        loop = asyncio.get_running_loop()
        # A kernel printing to its stdout floods between messages: looked at more often.
        wait = 0.1 if self._stdout is not None else 0.5
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return "timeout"
            if not self.launch.guarded and collector.output.dropped_bytes > FLOOD_BYTES:
                return "flood"
            try:
                msg = await self._kc.get_iopub_msg(timeout=min(remaining, wait))
            except Empty:
                if not await self.is_alive():
                    return "died"
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"].get("execution_state") == "idle":
                    return "done"
                continue
            collector.add(msg)

    async def _late_result(self, msg_id: str, collector: Collector) -> None:
        """Take this run's messages that came after its idle, until its value or the
        grace ends (the value, when there is one, is all that comes this late)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LATE_RESULT_GRACE_S
        while not collector.resulted and (remaining := deadline - loop.time()) > 0:
            try:
                msg = await self._kc.get_iopub_msg(timeout=remaining)
            except Empty:
                return
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] != "status":
                collector.add(msg)

    async def _interrupt_and_settle(self, msg_id: str) -> bool:
        """Interrupt and wait briefly for the execution to end; False if it would not."""
        if self._km is None:
            return False
        try:
            await self._km.interrupt_kernel()
        except Exception:
            log.exception("interrupting the kernel failed")
            return False
        if await self._settled(msg_id):
            await self._drain_reply(msg_id)
            return True
        return False

    async def _settled(self, msg_id: str) -> bool:
        """Read this run's messages until it is idle. An interrupted run may have a
        backlog to deliver (a flood queues many MiB): the grace runs from the last
        message, so a backlog still draining is not taken for a run that will not stop,
        up to a cap for one that goes on printing."""
        loop = asyncio.get_running_loop()
        cap = loop.time() + _INTERRUPT_DRAIN_CAP_S
        quiet_until = loop.time() + _INTERRUPT_GRACE_S
        while (remaining := min(cap, quiet_until) - loop.time()) > 0:
            try:
                msg = await self._kc.get_iopub_msg(timeout=remaining)
            except Empty:
                if not await self.is_alive():
                    return False
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                return True
            quiet_until = loop.time() + _INTERRUPT_GRACE_S
        return False

    async def _drain_reply(self, msg_id: str) -> dict[str, Any] | None:
        """Consume this execution's shell reply (and any stale ones before it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while (remaining := deadline - loop.time()) > 0:
            try:
                reply: dict[str, Any] = await self._kc.get_shell_msg(timeout=remaining)
            except Empty:
                return None
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
        return None

    def _result(
        self,
        collector: Collector,
        started: float,
        resources: ResourceReport | None,
        *,
        restarted: bool,
        notice: str | None,
    ) -> PythonExecResult:
        return PythonExecResult(
            success=collector.error is None,
            output=collector.output.text(),
            error=collector.error,
            execution_count=collector.execution_count,
            outputs=collector.outputs,
            truncated=collector.output.truncated,
            kernel_restarted=restarted,
            notice=notice,
            execution_time_ms=int((time.monotonic() - started) * 1000),
            resources=resources,
        )

    def _timeout_result(
        self, collector: Collector, timeout: float, started: float, detail: str
    ) -> PythonExecResult:
        collector.error = PythonError(
            ename="TimeoutError",
            evalue=f"execution exceeded its {timeout:g} s limit; {detail}",
            traceback=[],
        )
        result = self._result(collector, started, None, restarted=False, notice=None)
        result.timed_out = True
        return result
