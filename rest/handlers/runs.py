"""Handlers of the runs: `python/exec`, `code/exec` (any of the sandbox's languages)
and `shell/exec`, plain JSON or live events.

Each builds the service's run request from its body and renders the result; the rules
(limits, NUL bytes, the working directory) are the request's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bay_mcp.managers import no_progress
from bay_mcp.services.runs import (
    CodeRun,
    CodeRunResult,
    OutputSink,
    PythonRun,
    PythonRunResult,
    ShellRun,
    ShellRunResult,
)
from rest import models
from rest.endpoint import Call, Result, dump
from rest.events import event_stream, wants_events

R = TypeVar("R")


async def python_exec(call: Call) -> Result:
    body: models.PythonExecBody = call.body

    async def run(on_output: OutputSink | None) -> PythonRunResult:
        request = PythonRun(
            code=body.code, timeout=body.timeout, description=body.description, tags=body.tags
        )
        return await call.bay.execution.run(
            call.owner, call.params["sandbox_id"], request, no_progress, on_output
        )

    return await _answer(call, run, lambda result: _python_answer(result, body))


async def code_exec(call: Call) -> Result:
    body: models.CodeExecBody = call.body

    async def run(on_output: OutputSink | None) -> CodeRunResult:
        request = CodeRun(
            language=body.language,
            code=body.code,
            timeout=body.timeout,
            description=body.description,
            tags=body.tags,
        )
        return await call.bay.execution.run(
            call.owner, call.params["sandbox_id"], request, no_progress, on_output
        )

    def answer(result: CodeRunResult) -> Any:
        kernel_answer = _kernel_answer(result, body.code if body.include_code else None)
        return dump(models.CodeExecResponse(**dict(kernel_answer), language=result.language))

    return await _answer(call, run, answer)


def _python_answer(result: PythonRunResult, body: models.PythonExecBody) -> Any:
    return dump(_kernel_answer(result, body.code if body.include_code else None))


def _kernel_answer(result: PythonRunResult, code: str | None) -> models.PythonExecResponse:
    """A kernel's run (Python's or another language's) as REST answers it."""
    return models.PythonExecResponse(
        success=result.success,
        output=result.output,
        error=result.error_text,
        data=models.PythonData(
            execution_count=result.execution_count,
            output=models.PythonOutput(
                text=result.output,
                images=[models.ImageOutput(png=image) for image in result.images],
                outputs=result.outputs,
            ),
        ),
        execution_id=result.execution_id,
        execution_time_ms=result.execution_time_ms,
        resources=result.resources,
        code=code,
        files_changed=result.files_changed,
        notice=result.notice,
    )


async def shell_exec(call: Call) -> Result:
    body: models.ShellExecBody = call.body

    async def run(on_output: OutputSink | None) -> ShellRunResult:
        # Built in the run: a refused request is the stream's error event, as a failed run.
        request = ShellRun(
            command=body.command,
            timeout=body.timeout,
            cwd=body.cwd or ".",
            description=body.description,
            tags=body.tags,
        )
        return await call.bay.execution.run(
            call.owner, call.params["sandbox_id"], request, no_progress, on_output
        )

    return await _answer(call, run, lambda result: _shell_answer(result, body))


def _shell_answer(result: ShellRunResult, body: models.ShellExecBody) -> Any:
    response = models.ShellExecResponse(
        success=result.success,
        output=result.output,
        error=result.error,
        exit_code=result.exit_code,
        execution_id=result.execution_id,
        execution_time_ms=result.execution_time_ms,
        resources=result.resources,
        code=body.command if body.include_code else None,
        command=body.command,
        files_changed=result.files_changed,
        notice=result.notice,
    )
    return dump(response)


async def _answer(
    call: Call,
    run: Callable[[OutputSink | None], Awaitable[R]],
    answer: Callable[[R], Any],
) -> Result:
    """The run's answer: live events when the client asked for them, else one JSON body."""
    if wants_events(call.request):
        return event_stream(run, answer, call.request_id)
    return 200, answer(await run(None))
