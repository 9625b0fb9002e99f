"""The run tools: Python in the sandbox's kernel, code in any of its languages' kernels,
and commands in its shell.

Each builds the service's run request from its arguments (the request holds the rules:
limits, NUL bytes, the working directory; the schema below is built from them), runs it
for a model (long output cut to head and tail, the whole saved in the workspace), and
renders the result.
"""

from __future__ import annotations

from typing import Annotated, Any, overload

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from mcp_types import ToolAnnotations as Hints
from pydantic import BaseModel, Field

from bay_mcp.limits import DEFAULT_TIMEOUT_S
from bay_mcp.mcp.arguments import DESCRIBE_RUN, TAG_RUN, SandboxId, Timeout
from bay_mcp.mcp.plumbing import Tool, call, caller, tool_errors
from bay_mcp.mcp.progress import live_output, progress_for, with_heartbeat
from bay_mcp.mcp.results import file_links, python_content, shell_content
from bay_mcp.services import runs
from ship.protocol import FilesChanged, Language, PythonError, ResourceReport

Description = Annotated[runs.Description, Field(description=DESCRIBE_RUN)]
Tags = Annotated[runs.Tags, Field(description=TAG_RUN)]


class DisplayedOutput(BaseModel):
    """A rich output in the structured result; its picture or text is in the content."""

    mime_type: str
    path: str | None = Field(None, description="where the HTML was saved, under /workspace")
    # Typed loosely here: the chart's full schema would triple the size of this tool's
    # entry in tools/list, which a host may put in the model's context. REST's OpenAPI
    # document has it in full (ship.protocol.Chart).
    chart: dict[str, Any] | None = Field(
        None,
        description="a matplotlib figure's chart: type (line, scatter, bar, pie, "
        "box_and_whisker, composite_chart), title, axes, elements",
    )


class PythonExecOutput(BaseModel):
    success: bool
    output: str
    error: PythonError | None = None
    execution_count: int | None = None
    outputs: list[DisplayedOutput] = Field(
        default_factory=list, description="what the code displayed beyond plain text, in order"
    )
    truncated: bool
    execution_time_ms: int
    resources: ResourceReport | None = None
    files_changed: FilesChanged | None = None


class CodeExecOutput(PythonExecOutput):
    language: Language


class ShellExecOutput(BaseModel):
    success: bool
    exit_code: int | None
    output: str
    truncated: bool
    execution_time_ms: int
    resources: ResourceReport | None = None
    files_changed: FilesChanged | None = None


@overload
async def _run(
    ctx: Context[Any, Any], sandbox_id: str, request: runs.PythonRun, doing: str
) -> runs.PythonRunResult: ...
@overload
async def _run(
    ctx: Context[Any, Any], sandbox_id: str, request: runs.CodeRun, doing: str
) -> runs.CodeRunResult: ...
@overload
async def _run(
    ctx: Context[Any, Any], sandbox_id: str, request: runs.ShellRun, doing: str
) -> runs.ShellRunResult: ...
async def _run(
    ctx: Context[Any, Any],
    sandbox_id: str,
    request: runs.PythonRun | runs.CodeRun | runs.ShellRun,
    doing: str,
) -> runs.PythonRunResult | runs.ShellRunResult:
    """Run `request` for a model: progress heartbeats saying `doing`, live output when
    the client asked for progress, long output cut to head and tail."""
    bay, owner = await caller(ctx)
    progress = progress_for(ctx)
    live = live_output(ctx, bay.settings.output_limit_chars)
    sink = None if live is None else live.add
    work = bay.execution.run(owner, sandbox_id, request, progress, sink, for_model=True)
    return await call(with_heartbeat(work, progress, doing, live))


def _kernel_output(result: runs.PythonRunResult) -> PythonExecOutput:
    """A kernel's run (any language's) as structured content."""
    return PythonExecOutput(
        success=result.success,
        output=result.output,
        error=result.error,
        execution_count=result.execution_count,
        outputs=[
            DisplayedOutput(
                mime_type=item.mime_type,
                path=item.path,
                chart=item.chart.wire() if item.chart is not None else None,
            )
            for item in result.outputs
        ],
        truncated=result.truncated or result.shortened,
        execution_time_ms=result.execution_time_ms,
        resources=result.resources,
        files_changed=result.files_changed,
    )


async def python_exec(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    code: Annotated[runs.Code, Field(description="Python source to run, any number of lines")],
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    description: Description = None,
    tags: Tags = None,
) -> Annotated[CallToolResult, PythonExecOutput]:
    """Run Python in the sandbox's IPython kernel, in /workspace. State persists:
    variables, imports and functions stay defined for later calls until the sandbox
    stops. Returns stdout, stderr and the last expression's value, or the error with
    its traceback. What the code displays comes back in place: figures and images as
    images (a matplotlib chart also as data: kind, axes, series), HTML tables as
    Markdown (the HTML saved in /workspace/.bay/outputs/), Markdown, LaTeX and JSON as
    text. Output over the limit keeps its head and tail; the full text is saved in
    /workspace/.bay/outputs/. On timeout the code is interrupted."""
    with tool_errors():
        request = runs.PythonRun(code=code, timeout=timeout, description=description, tags=tags)
    result = await _run(ctx, sandbox_id, request, "running Python")
    structured = _kernel_output(result)
    return CallToolResult(
        content=python_content(result) + file_links(sandbox_id, result.files_changed),
        structured_content=structured.model_dump(mode="json"),
    )


async def run_code(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    code: Annotated[runs.Code, Field(description="Source to run, any number of lines")],
    language: Annotated[
        Language,
        Field(
            description="python (IPython), typescript or javascript (one Deno kernel: "
            "top-level await, npm: and jsr: imports), or r (IRkernel); the sandbox's "
            "profile lists its languages"
        ),
    ] = "python",
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    description: Description = None,
    tags: Tags = None,
) -> Annotated[CallToolResult, CodeExecOutput]:
    """Run code in the sandbox in the language's stateful kernel, in /workspace: each
    language keeps its variables, imports and functions for later calls until the
    sandbox stops (TypeScript and JavaScript share one kernel). Returns the output and
    the last expression's value, or the error. What the code displays comes back in
    place: figures and images as images, HTML tables as Markdown, Markdown, LaTeX and
    JSON as text. Output over the limit keeps its head and tail; the full text is saved in
    /workspace/.bay/outputs/. On timeout the code is interrupted."""
    with tool_errors():
        request = runs.CodeRun(
            language=language, code=code, timeout=timeout, description=description, tags=tags
        )
    title = runs.LANGUAGE_TITLES[request.language]
    result = await _run(ctx, sandbox_id, request, f"running {title}")
    structured = CodeExecOutput(**dict(_kernel_output(result)), language=result.language)
    return CallToolResult(
        content=python_content(result) + file_links(sandbox_id, result.files_changed),
        structured_content=structured.model_dump(mode="json"),
    )


async def shell_exec(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    command: Annotated[runs.Command, Field(description="A bash command line (run with bash -lc)")],
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    cwd: Annotated[
        runs.WorkingDirectory,
        Field(description="Working directory relative to /workspace; default '.'"),
    ] = ".",
    description: Description = None,
    tags: Tags = None,
) -> Annotated[CallToolResult, ShellExecOutput]:
    """Run a shell command in the sandbox with bash, as an unprivileged user. Returns
    stdout and stderr interleaved, and the exit code. On timeout the command and
    every process it started are killed. Files written under /workspace persist."""
    with tool_errors():
        request = runs.ShellRun(
            command=command, timeout=timeout, cwd=cwd, description=description, tags=tags
        )
    result = await _run(ctx, sandbox_id, request, "running the command")
    structured = ShellExecOutput(
        success=result.success,
        exit_code=result.exit_code,
        output=result.output,
        truncated=result.truncated or result.shortened,
        execution_time_ms=result.execution_time_ms,
        resources=result.resources,
        files_changed=result.files_changed,
    )
    return CallToolResult(
        content=shell_content(result) + file_links(sandbox_id, result.files_changed),
        structured_content=structured.model_dump(mode="json"),
    )


# Code may reach the network (as far as the sandbox's egress policy lets it): open world.
RUNS = Hints(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)

TOOLS = (Tool(python_exec, RUNS), Tool(run_code, RUNS), Tool(shell_exec, RUNS))
