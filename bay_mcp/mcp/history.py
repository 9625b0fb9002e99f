"""The history tools: list a sandbox's past runs, show one, and annotate one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations as Hints
from pydantic import Field

from bay_mcp.mcp.arguments import DESCRIBE_RUN, TAG_RUN, ExecutionId, SandboxId
from bay_mcp.mcp.plumbing import Tool, call, caller
from bay_mcp.services import runs
from bay_mcp.services.views import HistoryEntry, HistoryPage


async def get_execution_history(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    exec_type: Annotated[
        Literal["python", "shell"] | None, Field(description="Only python or shell runs")
    ] = None,
    success_only: Annotated[bool, Field(description="Only runs that succeeded")] = False,
    tags: Annotated[
        str | None, Field(description="Only runs carrying all these tags (comma-separated)")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=500, description="At most this many")] = 20,
    offset: Annotated[int, Field(ge=0, description="Skip this many (newest first)")] = 0,
) -> HistoryPage:
    """List the sandbox's past runs, newest first: code, success, duration, output
    (head and tail), description, tags and notes."""
    bay, owner = await caller(ctx)
    return await call(
        bay.history.list(
            owner,
            sandbox_id,
            exec_type=exec_type,
            success_only=success_only,
            tags=tags,
            limit=limit,
            offset=offset,
        )
    )


async def get_execution(
    ctx: Context[Any, Any], sandbox_id: SandboxId, execution_id: ExecutionId
) -> HistoryEntry:
    """Show one past run of the sandbox by its execution_id."""
    bay, owner = await caller(ctx)
    return await call(bay.history.get(owner, sandbox_id, execution_id))


async def annotate_execution(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    execution_id: ExecutionId,
    description: Annotated[runs.Description, Field(description=DESCRIBE_RUN)] = None,
    tags: Annotated[runs.Tags, Field(description=TAG_RUN)] = None,
    notes: Annotated[runs.Notes, Field(description="Free notes; '' clears them")] = None,
) -> HistoryEntry:
    """Describe, tag or add notes to a past run (e.g. which attempt worked), to find
    it again with get_execution_history. What is not given is kept."""
    bay, owner = await caller(ctx)
    return await call(
        bay.history.annotate(
            owner, sandbox_id, execution_id, description=description, tags=tags, notes=notes
        )
    )


READS = Hints(read_only_hint=True, open_world_hint=False)
TOOLS = (
    Tool(get_execution_history, READS),
    Tool(get_execution, READS),
    Tool(
        annotate_execution,
        Hints(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    ),
)
