"""`bay-mcp` over stdio: one local owner, Bay's lifetime is the process's."""

from __future__ import annotations

from typing import Any

from bay_mcp.bay import running_bay
from bay_mcp.mcp.server import create_mcp_server
from bay_mcp.settings import BaySettings


async def serve_stdio(settings: BaySettings) -> None:
    async with running_bay(settings) as bay:
        owner = settings.local_owner

        def owner_of(_ctx: Any) -> str:
            return owner

        await create_mcp_server(bay, owner_of).run_stdio_async()
