"""The egress tool: what a sandbox's code tried to reach, and what the proxy decided."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations as Hints
from pydantic import Field

from bay_mcp.limits import MAX_EGRESS_LOG_PAGE
from bay_mcp.mcp.arguments import SandboxId
from bay_mcp.mcp.plumbing import Tool, call, caller
from bay_mcp.services.views import EgressLog


async def get_egress_log(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    limit: Annotated[
        int, Field(ge=1, le=MAX_EGRESS_LOG_PAGE, description="At most this many")
    ] = 50,
    before: Annotated[
        int | None, Field(ge=1, description="Entries older than this id (next_before)")
    ] = None,
) -> EgressLog:
    """The sandbox's egress log, newest first: each request its code made through the
    egress proxy (host, port, method, bytes), allowed by which rule or refused and why.
    Sandboxes with an allowlist policy or bound secrets have one."""
    bay, owner = await caller(ctx)
    return await call(bay.egress.log(owner, sandbox_id, limit, before))


TOOLS = (Tool(get_egress_log, Hints(read_only_hint=True, open_world_hint=False)),)
