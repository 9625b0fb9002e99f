"""Handlers of the runs: `python/exec` and `shell/exec`, plain JSON or live events."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from bay_mcp.adapters.ship_client import OutputSink
from bay_mcp.managers import no_progress
from bay_mcp.services.views import Annotation, PythonExecResult, ShellExecResult
from rest import models
from rest.endpoint import Call, Result, dump
from rest.events import event_stream, wants_events


async def python_exec(call: Call) -> Result:
    body: models.PythonExecBody = call.body

    def run(on_output: OutputSink | None) -> Awaitable[PythonExecResult]:
        return call.bay.execution.python(
            call.owner,
            call.params["sandbox_id"],
            body.code,
            body.timeout,
            no_progress,
            Annotation(body.description, body.tags),
            on_output=on_output,
        )

    if wants_events(call.request):
        return event_stream(run, lambda result: _python_answer(result, body), call.request_id)
    return 200, _python_answer(await run(None), body)


def _python_answer(result: PythonExecResult, body: models.PythonExecBody) -> Any:
    error = None
    if result.error is not None:
        error = "\n".join(result.error.traceback) or f"{result.error.ename}: {result.error.evalue}"
    response = models.PythonExecResponse(
        success=result.success,
        output=result.output,
        error=error,
        data=models.PythonData(
            execution_count=result.execution_count,
            output=models.PythonOutput(
                text=result.output,
                images=[models.ImageOutput(png=image) for image in result.images],
            ),
        ),
        execution_id=result.execution_id,
        execution_time_ms=result.execution_time_ms,
        resources=result.resources,
        code=body.code if body.include_code else None,
        files_changed=result.files_changed,
    )
    return dump(response)


async def shell_exec(call: Call) -> Result:
    body: models.ShellExecBody = call.body

    def run(on_output: OutputSink | None) -> Awaitable[ShellExecResult]:
        return call.bay.execution.shell(
            call.owner,
            call.params["sandbox_id"],
            body.command,
            body.timeout,
            body.cwd or ".",
            no_progress,
            Annotation(body.description, body.tags),
            on_output=on_output,
        )

    if wants_events(call.request):
        return event_stream(run, lambda result: _shell_answer(result, body), call.request_id)
    return 200, _shell_answer(await run(None), body)


def _shell_answer(result: ShellExecResult, body: models.ShellExecBody) -> Any:
    response = models.ShellExecResponse(
        success=result.success,
        output=result.output,
        error=result.error,
        exit_code=result.exit_code,
        execution_id=result.execution_id,
        execution_time_ms=result.execution_time_ms,
        resources=result.resources,
        code=body.command if body.include_code else None,
        files_changed=result.files_changed,
    )
    return dump(response)
