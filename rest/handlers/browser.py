"""Handlers of the browser: `browser/exec` (one command), `browser/exec_batch`, a run's
trace, and the replay of a released browser skill."""

from __future__ import annotations

from bay_mcp.managers import no_progress
from bay_mcp.services.views import Annotation, BrowserExecResult
from rest import models
from rest.endpoint import Call, Result, dump


async def browser_exec(call: Call) -> Result:
    body: models.BrowserExecBody = call.body
    return 200, dump(await _browse(call, [body.cmd], body.timeout, True, body))


async def browser_exec_batch(call: Call) -> Result:
    body: models.BrowserBatchBody = call.body
    result = await _browse(call, body.commands, body.timeout, body.stop_on_error, body)
    return 200, dump(_batch(body.commands, result))


async def browser_trace(call: Call) -> Result:
    trace = await call.bay.browser_learning.trace(
        call.owner, call.params["sandbox_id"], call.params["trace_ref"]
    )
    return 200, dump(models.BrowserTrace.model_validate(trace))


async def run_browser_skill(call: Call) -> Result:
    body: models.BrowserSkillRunBody = call.body
    commands, result = await call.bay.browser_learning.run_skill(
        call.owner, call.params["sandbox_id"], call.params["skill_key"], body.timeout, no_progress
    )
    return 200, dump(_batch(commands, result))


def _batch(commands: list[str], result: BrowserExecResult) -> models.BrowserBatchResponse:
    """A run of several commands in upstream's exec_batch answer."""
    return models.BrowserBatchResponse(
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
        total_steps=len(commands),
        completed_steps=len(result.steps),
        success=result.success and len(result.steps) == len(commands),
        duration_ms=result.execution_time_ms,
        execution_id=result.execution_id,
        url=result.url,
        title=result.title,
        changes=result.changes,
        launched=result.launched,
        trace_ref=result.trace_ref,
    )


async def _browse(
    call: Call,
    commands: list[str],
    timeout: int,
    stop_on_error: bool,
    body: models.BrowserLearnFields,
) -> BrowserExecResult:
    return await call.bay.browser_learning.run(
        call.owner,
        call.params["sandbox_id"],
        commands,
        timeout,
        no_progress,
        stop_on_error=stop_on_error,
        annotation=Annotation(body.description, body.tags),
        learn=body.learn,
        include_trace=body.include_trace,
    )
