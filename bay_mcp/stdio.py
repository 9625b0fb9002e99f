"""`bay-mcp` over stdio: one local owner, Bay's lifetime is the process's.

The MCP server answers `initialize` and `tools/list` at once; Bay (the database, its
migrations, the Docker client, reconciling with Docker) starts beside it, and every
call waits for that start to finish. Bay's modules are imported in a worker thread,
so their import does not hold up the first answer (see bench/startup.py).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TYPE_CHECKING, Any

from bay_mcp.mcp.server import create_mcp_server

if TYPE_CHECKING:
    from bay_mcp.bay import Bay
    from bay_mcp.settings import BaySettings

log = logging.getLogger(__name__)


async def _start(settings: BaySettings) -> Bay:
    module = await asyncio.to_thread(importlib.import_module, "bay_mcp.bay")
    bay: Bay = module.Bay(settings)
    try:
        await bay.start()
    except BaseException:
        await bay.close()
        raise
    return bay


async def serve_stdio(settings: BaySettings) -> None:
    starting = asyncio.create_task(_start(settings), name="bay-start")

    async def ready() -> Bay:
        return await asyncio.shield(starting)

    owner = settings.local_owner

    def owner_of(_ctx: Any) -> str:
        return owner

    try:
        await create_mcp_server(ready, owner_of).run_stdio_async()
    finally:
        if not starting.done():
            starting.cancel()
        try:
            bay = await starting
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                log.error("Bay did not start: %s", exc)
        else:
            await bay.close()
