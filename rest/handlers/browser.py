"""Handlers of the browser: `browser/exec` (one command) and `browser/exec_batch`."""

from __future__ import annotations

from bay_mcp.managers import no_progress
from bay_mcp.services.browser_commands import parse_command
from bay_mcp.services.views import Annotation, BrowserExecResult
from rest import models
from rest.endpoint import Call, Result, dump


async def browser_exec(call: Call) -> Result:
    body: models.BrowserExecBody = call.body
    return 200, dump(await _browse(call, [body.cmd], body.timeout, True, body))


async def browser_exec_batch(call: Call) -> Result:
    body: models.BrowserBatchBody = call.body
    result = await _browse(call, body.commands, body.timeout, body.stop_on_error, body)
    batch = models.BrowserBatchResponse(
        results=[
            models.BrowserStepResult(
                kind=step.kind,
                success=step.success,
                output=step.output,
                error=step.error,
                exit_code=0 if step.success else 1,
                execution_id=result.execution_id,
                execution_time_ms=step.execution_time_ms,
                screenshot=step.screenshot,
            )
            for step in result.steps
        ],
        total_steps=len(body.commands),
        completed_steps=len(result.steps),
        success=result.success and len(result.steps) == len(body.commands),
        duration_ms=result.execution_time_ms,
        execution_id=result.execution_id,
        url=result.url,
        title=result.title,
        changes=result.changes,
        launched=result.launched,
    )
    return 200, dump(batch)


async def _browse(
    call: Call, commands: list[str], timeout: int, stop_on_error: bool, body: models.ExecAnnotation
) -> BrowserExecResult:
    actions = [parse_command(command) for command in commands]
    return await call.bay.execution.browser(
        call.owner,
        call.params["sandbox_id"],
        actions,
        timeout,
        no_progress,
        stop_on_error=stop_on_error,
        annotation=Annotation(body.description, body.tags),
    )
