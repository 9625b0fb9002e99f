"""The file tools: read, write, edit, list and delete files in a sandbox's /workspace.

Paths are relative to /workspace; the services refuse one that leaves it."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from mcp_types import ToolAnnotations as Hints
from pydantic import BaseModel, Field

from bay_mcp.limits import MAX_PATH_CHARS
from bay_mcp.mcp.arguments import SandboxId, WorkspacePath
from bay_mcp.mcp.plumbing import Tool, call, caller
from bay_mcp.mcp.progress import progress_for
from bay_mcp.mcp.results import file_content
from bay_mcp.services.views import DirectoryListing, FileEdited, FileWritten


class FileDeleted(BaseModel):
    path: str
    status: str = "deleted"


async def read_file(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    path: WorkspacePath,
    offset: Annotated[
        int | None, Field(ge=0, description="Lines to skip from the start (large files)")
    ] = None,
    limit: Annotated[
        int | None, Field(ge=1, description="At most this many lines (large files)")
    ] = None,
) -> CallToolResult:
    """Read a file from /workspace. Text files come back as text (use offset and
    limit, in lines, for large ones); images (PNG, JPEG, GIF, WebP) as images; other
    binary files as their size, type and a resource URI to fetch the bytes."""
    bay, owner = await caller(ctx)
    read = await call(
        bay.files.read_for_model(
            owner, sandbox_id, path, progress_for(ctx), offset=offset or 0, limit=limit
        )
    )
    return CallToolResult(content=[file_content(sandbox_id, read)])


async def write_file(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    path: WorkspacePath,
    content: Annotated[str, Field(description="The whole new text of the file (UTF-8)")],
) -> FileWritten:
    """Write a text file in /workspace, replacing it if it exists and creating parent
    directories. Files persist across sandbox stops."""
    bay, owner = await caller(ctx)
    return await call(bay.files.write_text(owner, sandbox_id, path, content, progress_for(ctx)))


async def edit_file(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    path: WorkspacePath,
    old_string: Annotated[str, Field(description="Exact text to find, whitespace included")],
    new_string: Annotated[str, Field(description="Text to put in its place")],
    replace_all: Annotated[
        bool, Field(description="Replace every occurrence; otherwise it must be unique")
    ] = False,
) -> FileEdited:
    """Replace text in a file in /workspace. Fails if old_string is absent, or occurs
    more than once without replace_all (add surrounding lines to make it unique)."""
    bay, owner = await caller(ctx)
    return await call(
        bay.files.edit_text(
            owner,
            sandbox_id,
            path,
            old_string,
            new_string,
            progress_for(ctx),
            replace_all=replace_all,
        )
    )


async def list_files(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    path: Annotated[
        str,
        Field(
            max_length=MAX_PATH_CHARS,
            description="Directory relative to /workspace; default '.' (the root)",
        ),
    ] = ".",
) -> DirectoryListing:
    """List a directory in /workspace: each entry's name, path, type and size."""
    bay, owner = await caller(ctx)
    return await call(bay.files.list_directory(owner, sandbox_id, path, progress_for(ctx)))


async def delete_file(
    ctx: Context[Any, Any], sandbox_id: SandboxId, path: WorkspacePath
) -> FileDeleted:
    """Delete a file or a whole directory in /workspace (a symlink is removed, not
    what it points to)."""
    bay, owner = await caller(ctx)
    deleted = await call(bay.files.delete(owner, sandbox_id, path, progress_for(ctx)))
    return FileDeleted(path=deleted)


# The cargo is Bay's own: a closed world.
READS = Hints(read_only_hint=True, open_world_hint=False)
REPLACES = Hints(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
EDITS = Hints(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
TOOLS = (
    Tool(read_file, READS),
    Tool(write_file, REPLACES),
    Tool(edit_file, EDITS),
    Tool(list_files, READS),
    Tool(delete_file, REPLACES),
)
