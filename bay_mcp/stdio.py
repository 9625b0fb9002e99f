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
import signal
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

from bay_mcp.mcp.server import create_mcp_server
from bay_mcp.stdio_wire import loop_stdio

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
    """Serve until stdin closes or SIGTERM/SIGINT arrives (a host's way to stop a
    server that does not exit on EOF); either way Bay closes: the warm pool's unclaimed
    sandboxes are removed, the history and activity flushed."""
    serving = asyncio.current_task()
    assert serving is not None
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop, serving.cancel)
    try:
        await _serve_until_closed(settings)
    except asyncio.CancelledError:
        log.info("stopping: asked to by a signal")
    finally:
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(stop)


async def _serve_until_closed(settings: BaySettings) -> None:
    starting = asyncio.create_task(_start(settings), name="bay-start")

    async def ready() -> Bay:
        return await asyncio.shield(starting)

    owner = settings.local_owner

    def owner_of(_ctx: Any) -> str:
        return owner

    try:
        await _serve(create_mcp_server(ready, owner_of))
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


async def _serve(server: MCPServer) -> None:
    async with loop_stdio() as wire:
        if wire is None:
            await server.run_stdio_async()
            return
        async with stdio_server(wire.reader, wire.writer) as (read_stream, write_stream):  # type: ignore[arg-type]
            # What run_stdio_async does, over our streams (the SDK takes no streams there).
            lowlevel = server._lowlevel_server
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
