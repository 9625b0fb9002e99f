"""Running code: one path for every kind of run (Python in the sandbox's kernel, code
in any of its languages' kernels, a command in its shell), and browser actions.

A failed run (exception, non-zero exit) is a normal result with `success: false`;
a run that hit its time limit is the `timeout` error, carrying what it printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from pydantic import ValidationError as PydanticValidationError

from bay_mcp.adapters.ship_client import OutputSink, ShipClient, ShipEndpoint
from bay_mcp.errors import BayError, Timeout, TooManyRequests, ValidationFailed
from bay_mcp.limits import MAX_TIMEOUT_S
from bay_mcp.logs import about, execution_var
from bay_mcp.managers import Progress, no_progress
from bay_mcp.metrics import Metrics
from bay_mcp.services.browser_commands import describe
from bay_mcp.services.files import FileService
from bay_mcp.services.history import (
    ExecType,
    HistoryService,
    RunRecord,
    kept_pictures,
    new_entry,
)
from bay_mcp.services.live_runs import LiveRuns
from bay_mcp.services.output import OUTPUT_DIR, cap_output
from bay_mcp.services.rich_outputs import model_text, pictures, png_images
from bay_mcp.services.runs import (
    LANGUAGE_TITLES,
    CodeRun,
    CodeRunResult,
    PythonRun,
    PythonRunResult,
    RunResult,
    ShellRun,
    ShellRunResult,
    check_timeout,
)
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.views import Annotation, BrowserExecResult, BrowserStepView
from bay_mcp.storage.models import new_id
from ship import protocol

log = logging.getLogger(__name__)

_TAIL_IN_ERRORS = 2000
Result = TypeVar("Result", bound=RunResult)


AnyRun = PythonRun | CodeRun | ShellRun


def _timed_out(request: AnyRun, result: RunResult) -> Timeout:
    if isinstance(result, PythonRunResult):
        language = request.language if isinstance(request, CodeRun) else "python"
        what = f"the {LANGUAGE_TITLES[language]} code"
        after = (
            "the kernel was restarted, so its variables are gone."
            if result.kernel_restarted
            else "the kernel was interrupted; its variables are kept."
        )
    else:
        what, after = "the command", "it and every process it started were killed."
    output, resources = result.output, result.resources
    tail = output[-_TAIL_IN_ERRORS:]
    cut = " (last part)" if len(output) > len(tail) else ""
    printed = f"\nOutput before the limit{cut}:\n{tail}" if tail.strip() else ""
    usage = resources.usage_summary() if resources else None
    used = f" It used {usage}." if usage else ""
    return Timeout(
        f"{what} exceeded its {request.timeout:g} s time limit and was stopped; {after}{used} "
        f"Give a larger timeout (up to {MAX_TIMEOUT_S} s) or split the work.{printed}",
        {
            "timeout": request.timeout,
            "output": output,
            "resources": resources.model_dump() if resources else None,
        },
    )


def _fill(entry: RunRecord, result: PythonRunResult | ShellRunResult, timed_out: bool) -> None:
    """The run's outcome into its history entry."""
    entry.success, entry.timed_out = result.success, timed_out
    entry.execution_time_ms, entry.output = result.execution_time_ms, result.output
    entry.resources = result.resources.model_dump() if result.resources else None
    entry.files_changed = result.files_changed.model_dump() if result.files_changed else None
    if isinstance(result, PythonRunResult):
        entry.error = result.error_line
        entry.images = kept_pictures(pictures(result.outputs))
    else:
        entry.exit_code, entry.error = result.exit_code, result.error


class ExecSlots:
    """How many executions each owner has running in this Bay process, against a
    limit: one owner cannot take every worker, connection and CPU at once."""

    RETRY_AFTER_MS = 1000

    def __init__(self, per_owner: int) -> None:
        self.per_owner = per_owner
        self._running: dict[str, int] = {}

    @contextlib.contextmanager
    def hold(self, owner: str) -> Iterator[None]:
        running = self._running.get(owner, 0)
        if running >= self.per_owner:
            raise TooManyRequests(
                f"owner {owner} already has {running} executions running, the limit "
                f"(BAY_MAX_CONCURRENT_EXECS_PER_OWNER={self.per_owner}): retry in "
                f"{self.RETRY_AFTER_MS // 1000} s, when one has finished",
                {"limit": self.per_owner, "retry_after_ms": self.RETRY_AFTER_MS},
            )
        self._running[owner] = running + 1
        try:
            yield
        finally:
            left = self._running[owner] - 1
            if left:
                self._running[owner] = left
            else:
                del self._running[owner]


NO_ANNOTATION = Annotation()


@dataclass
class Run:
    execution_id: str
    outcome: str = "error"


class ExecService:
    def __init__(
        self,
        sandboxes: SandboxService,
        ship: ShipClient,
        files: FileService,
        slots: ExecSlots,
        output_limit_chars: int,
        history: HistoryService,
        metrics: Metrics,
    ) -> None:
        self._history = history
        self._metrics = metrics
        self._sandboxes = sandboxes
        self._ship = ship
        self._files = files
        self._slots = slots
        self._output_limit = output_limit_chars
        # Runs in progress, for the console.
        self.live = LiveRuns()

    @contextlib.contextmanager
    def _execution(self, owner: str, exec_type: ExecType) -> Iterator[Run]:
        """One run: its id (which log lines name), the owner's slot, and its count and
        time in the metrics by outcome (the block sets it; an exception is `error`,
        a Timeout `timeout`)."""
        run = Run(execution_id=new_id("exec"))
        with self._slots.hold(owner):  # refused for want of a slot: not a run
            started = time.monotonic()
            try:
                with about(execution_var, run.execution_id):
                    yield run
            except Timeout:
                run.outcome = "timeout"
                raise
            finally:
                self._metrics.executions.labels(exec_type=exec_type, outcome=run.outcome).inc()
                self._metrics.execution_seconds.labels(exec_type=exec_type).observe(
                    time.monotonic() - started
                )

    @overload
    async def run(
        self,
        owner: str,
        sandbox_id: str,
        request: PythonRun,
        progress: Progress,
        on_output: OutputSink | None = None,
        *,
        for_model: bool = False,
    ) -> PythonRunResult: ...

    @overload
    async def run(
        self,
        owner: str,
        sandbox_id: str,
        request: CodeRun,
        progress: Progress,
        on_output: OutputSink | None = None,
        *,
        for_model: bool = False,
    ) -> CodeRunResult: ...

    @overload
    async def run(
        self,
        owner: str,
        sandbox_id: str,
        request: ShellRun,
        progress: Progress,
        on_output: OutputSink | None = None,
        *,
        for_model: bool = False,
    ) -> ShellRunResult: ...

    async def run(
        self,
        owner: str,
        sandbox_id: str,
        request: AnyRun,
        progress: Progress,
        on_output: OutputSink | None = None,
        *,
        for_model: bool = False,
    ) -> PythonRunResult | ShellRunResult:
        """Run `request` in the sandbox (started if need be), recorded in the history.
        `on_output` is told the output as it comes. `for_model`: an output over the
        output limit keeps its head and tail, and the whole is saved in the workspace
        (OUTPUT_DIR), the note saying where. Timeout when the run hit its limit."""
        with self._execution(owner, request.exec_type) as run:
            result = await self._run(
                owner, sandbox_id, request, progress, run.execution_id, on_output
            )
            run.outcome = "success" if result.success else "failure"
        if for_model:
            return await self._for_model(owner, sandbox_id, result)
        return result

    async def _run(
        self,
        owner: str,
        sandbox_id: str,
        request: AnyRun,
        progress: Progress,
        execution_id: str,
        on_output: OutputSink | None,
    ) -> PythonRunResult | ShellRunResult:
        language = request.language if isinstance(request, CodeRun) else None
        runtime = self._sandboxes.runtime(owner, sandbox_id, request.kind, progress, language)
        async with runtime as endpoint:
            entry = new_entry(
                execution_id=execution_id,
                owner=owner,
                sandbox_id=sandbox_id,
                session_id=endpoint.session_id,
                exec_type=request.exec_type,
                code=request.source,
                description=request.description,
                tags=request.tags,
            )
            try:
                with self.live.running(
                    owner, sandbox_id, execution_id, request.exec_type, request.source, on_output
                ) as sink:
                    raw = await self._send(endpoint, request, execution_id, sink)
            except BaseException:
                # Cancelled (or lost): stop the run in the sandbox, not only our wait for it.
                await _shielded(self._stop(endpoint, request, execution_id))
                raise
            result = _result(raw, execution_id, language)
            if endpoint.notice:  # a replaced session: say the memory was lost
                result.notice = " ".join(filter(None, [endpoint.notice + ".", result.notice]))
            _fill(entry, result, raw.timed_out)
            self._history.record(entry)
            await self._tell_changes(owner, sandbox_id, result.files_changed)
            if raw.timed_out:
                raise _timed_out(request, result)
            return result

    async def _tell_changes(
        self, owner: str, sandbox_id: str, changed: protocol.FilesChanged | None
    ) -> None:
        """The files the run changed, as Ship listed them (at most 100: past that, or
        when Ship could not watch the whole workspace, the cargo root says the rest)."""
        if changed is not None and (changed.total or not changed.complete):
            paths = [change.path for change in changed.files]
            await self._sandboxes.changes.files(owner, sandbox_id, paths)

    async def _send(
        self,
        endpoint: ShipEndpoint,
        request: AnyRun,
        execution_id: str,
        on_output: OutputSink | None,
    ) -> protocol.PythonExecResult | protocol.ShellExecResult:
        """The run on Ship: a kernel runs the code, its shell the command."""
        if isinstance(request, PythonRun):
            return await self._ship.python_exec(endpoint, request.code, request.timeout, on_output)
        if isinstance(request, CodeRun):
            return await self._ship.code_exec(
                endpoint, request.language, request.code, request.timeout, on_output
            )
        return await self._ship.shell_exec(
            endpoint, request.command, request.timeout, request.cwd, execution_id, on_output
        )

    def _stop(
        self, endpoint: ShipEndpoint, request: AnyRun, execution_id: str
    ) -> Coroutine[Any, Any, bool]:
        """Stop the run in the sandbox: interrupt the kernel, kill the command."""
        if isinstance(request, PythonRun):
            return self._ship.python_interrupt(endpoint)
        if isinstance(request, CodeRun):
            return self._ship.code_interrupt(endpoint, request.language)
        return self._ship.shell_cancel(endpoint, execution_id)

    async def _for_model(self, owner: str, sandbox_id: str, result: Result) -> Result:
        """`result` with its output as a model reads it: at most the output limit, head
        and tail, the whole saved in the workspace and the note saying where. A Python
        run's rich outputs stand in its text where they were displayed."""
        if isinstance(result, PythonRunResult) and result.outputs:
            text = model_text(result.output, result.outputs)
            result = result.model_copy(update={"output": text})
        if len(result.output) <= self._output_limit:
            return result
        path = f"{OUTPUT_DIR}/{result.execution_id}.txt"
        saved: str | None = path
        try:
            await self._files.write_text(owner, sandbox_id, path, result.output, no_progress)
        except BayError as exc:
            log.warning(
                "could not save the full output of %s: %s", result.execution_id, exc.message
            )
            saved = None
        output = cap_output(result.output, self._output_limit, saved, sandbox_id)
        return result.model_copy(update={"output": output, "shortened": True})

    async def browser(
        self,
        owner: str,
        sandbox_id: str,
        actions: list[protocol.BrowserAction],
        timeout: float,
        progress: Progress,
        *,
        stop_on_error: bool = True,
        annotation: Annotation = NO_ANNOTATION,
    ) -> BrowserExecResult:
        """Run browser actions in order on the sandbox's browser (started on first use);
        one history entry, `browser` for one action and `browser_batch` for several."""
        check_timeout(timeout)
        exec_type: ExecType = "browser" if len(actions) == 1 else "browser_batch"
        try:
            request = protocol.BrowserRequest(
                actions=actions, timeout=timeout, stop_on_error=stop_on_error
            )
        except PydanticValidationError as exc:
            raise ValidationFailed(
                f"the browser commands do not validate: {exc.errors()[0]['msg']}",
                {"fields": ["commands"]},
            ) from exc
        with self._execution(owner, exec_type) as run:
            async with self._sandboxes.runtime(owner, sandbox_id, "browser", progress) as endpoint:
                code = "\n".join(describe(action) for action in actions)
                entry = new_entry(
                    execution_id=run.execution_id,
                    owner=owner,
                    sandbox_id=sandbox_id,
                    session_id=endpoint.session_id,
                    exec_type=exec_type,
                    code=code,
                    description=annotation.description,
                    tags=annotation.tags,
                )
                raw = await self._ship.browser(endpoint, request)
                result = _browser_result(raw, run.execution_id)
                entry.success, entry.output = result.success, result.output
                entry.execution_time_ms, entry.error = result.execution_time_ms, result.error
                self._history.record(entry)
            run.outcome = "success" if result.success else "failure"
            return result


_cleanups: set[asyncio.Task[bool]] = set()


async def _shielded(cleanup: Coroutine[Any, Any, bool]) -> None:
    """Run a cleanup call to its end even though the caller is being cancelled.

    The task is kept referenced until it finishes; its failure is logged, not raised
    (the caller is already failing for its own reason).
    """
    task = asyncio.ensure_future(cleanup)
    _cleanups.add(task)

    def finished(done: asyncio.Task[bool]) -> None:
        _cleanups.discard(done)
        if not done.cancelled() and done.exception() is not None:
            log.warning("cleanup after a cancelled call failed: %s", done.exception())

    task.add_done_callback(finished)
    with contextlib.suppress(BaseException):
        await asyncio.shield(task)


def _python_result(raw: protocol.PythonExecResult, execution_id: str) -> PythonRunResult:
    return PythonRunResult(
        success=raw.success,
        output=raw.output,
        error=raw.error,
        execution_count=raw.execution_count,
        images=png_images(raw.outputs) or [image.png for image in raw.images],
        outputs=raw.outputs,
        truncated=raw.truncated,
        kernel_restarted=raw.kernel_restarted,
        notice=raw.notice,
        execution_id=execution_id,
        execution_time_ms=raw.execution_time_ms,
        resources=raw.resources,
        files_changed=raw.files_changed,
    )


def _shell_result(raw: protocol.ShellExecResult, execution_id: str) -> ShellRunResult:
    return ShellRunResult(
        success=raw.success,
        exit_code=raw.exit_code,
        output=raw.output,
        error=None if raw.success or raw.timed_out else _command_failure(raw),
        truncated=raw.truncated,
        execution_id=execution_id,
        execution_time_ms=raw.execution_time_ms,
        resources=raw.resources,
        files_changed=raw.files_changed,
    )


def _result(
    raw: protocol.PythonExecResult | protocol.ShellExecResult,
    execution_id: str,
    language: protocol.Language | None,
) -> PythonRunResult | ShellRunResult:
    """Ship's answer as the service gives it back; a code run's says its language."""
    if isinstance(raw, protocol.ShellExecResult):
        return _shell_result(raw, execution_id)
    result = _python_result(raw, execution_id)
    if language is None:
        return result
    return CodeRunResult(**dict(result), language=language)


def _command_failure(result: protocol.ShellExecResult) -> str:
    killed = result.resources.kill_summary() if result.resources else None
    if killed:
        return f"the command {killed} (exit code {result.exit_code})"
    return f"the command exited with code {result.exit_code}"


def _browser_result(raw: protocol.BrowserResult, execution_id: str) -> BrowserExecResult:
    failed = next((step for step in raw.steps if not step.success), None)
    lines = [step.output for step in raw.steps if step.success and step.output]
    if failed is not None:
        lines.append(f"{failed.kind} failed: {failed.error}")
    lines.extend(f"[{change}]" for change in raw.changes)
    if raw.url is not None:
        lines.append(f"[page: {raw.url}" + (f" — {raw.title}]" if raw.title else "]"))
    return BrowserExecResult(
        success=raw.success,
        output="\n".join(lines),
        error=None if failed is None else f"{failed.kind}: {failed.error}",
        exit_code=0 if raw.success else 1,
        execution_id=execution_id,
        execution_time_ms=raw.execution_time_ms,
        url=raw.url,
        title=raw.title,
        changes=raw.changes,
        steps=[BrowserStepView(**step.model_dump()) for step in raw.steps],
        launched=raw.launched,
    )
