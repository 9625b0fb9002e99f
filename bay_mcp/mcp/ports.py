"""The port tools: make a server the agent started in a sandbox reachable by a person
(a preview URL) or by the sandbox's own browser, list those ports, close one.

Over HTTP the URL goes through Bay's proxy and carries a signed token; over stdio it
is a loopback port on this machine. Either closes when the sandbox stops.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations as Hints
from pydantic import Field

from bay_mcp.mcp.arguments import SandboxId
from bay_mcp.mcp.plumbing import Tool, call, caller
from bay_mcp.mcp.progress import progress_for
from bay_mcp.mcp.results import Confirmation
from bay_mcp.services.views import ExposedPort, PortList

Port = Annotated[
    int, Field(ge=1, le=65535, description="The TCP port the server listens on in the sandbox")
]


async def expose_port(ctx: Context[Any, Any], sandbox_id: SandboxId, port: Port) -> ExposedPort:
    """Get a URL where a person can open a server you started in the sandbox (a web
    app, a dev server, a notebook). Start it first with process_start, listening on
    0.0.0.0 (e.g. 'python3 -m http.server 8000'); called right after, this waits for it.
    url is for the person (over HTTP it carries a signed token that expires:
    list_ports gives a fresh one); local_url is for browser_navigate. The port
    closes when the sandbox stops."""
    bay, owner = await caller(ctx)
    return await call(bay.ports.expose(owner, sandbox_id, port, progress_for(ctx)))


async def list_ports(ctx: Context[Any, Any], sandbox_id: SandboxId) -> PortList:
    """List the sandbox's exposed ports with their URLs (signed URLs are fresh)."""
    bay, owner = await caller(ctx)
    return PortList(ports=await call(bay.ports.list(owner, sandbox_id)))


async def unexpose_port(ctx: Context[Any, Any], sandbox_id: SandboxId, port: Port) -> Confirmation:
    """Close an exposed port: its URL stops working. The server keeps running in the
    sandbox."""
    bay, owner = await caller(ctx)
    closed = await call(bay.ports.unexpose(owner, sandbox_id, port))
    return Confirmation(
        sandbox_id=sandbox_id,
        status="closed" if closed else "not_exposed",
        message=f"Port {port} is closed." if closed else f"Port {port} was not exposed.",
    )


# Publishing a port reaches nothing outside Bay: a closed world.
TOOLS = (
    Tool(
        expose_port,
        Hints(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    ),
    Tool(list_ports, Hints(read_only_hint=True, open_world_hint=False)),
    Tool(
        unexpose_port,
        Hints(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    ),
)
