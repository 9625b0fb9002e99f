"""The cargo resources: a sandbox's /workspace as `cargo://{sandbox_id}/{path}`.

The server lists the caller's sandboxes as resources and reads every `cargo://` URI
itself, with each file's own MIME type (`BayMCPServer.read_resource`); the template here
is what `resources/templates/list` shows a host."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError

from bay_mcp.errors import BayError
from bay_mcp.mcp.plumbing import call, server_of

TEMPLATE = "cargo://{sandbox_id}/{+path}"
NAME = "cargo-file"
DESCRIPTION = (
    "A file in a sandbox's /workspace: text with its MIME type, binary as a blob; a "
    "directory reads as a JSON listing. A stopped sandbox is not started to read it"
)


async def cargo_file(sandbox_id: str, path: str, ctx: Context[Any, Any]) -> str | bytes:
    """The file's content (a directory's JSON listing)."""
    server = server_of(ctx)
    bay = await call(server.ready())
    try:
        read = await bay.files.read_resource(server.owner_of(ctx), sandbox_id, path)
    except BayError as exc:
        raise ResourceError(exc.message) from exc
    return read.content
