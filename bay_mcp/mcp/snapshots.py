"""The snapshot tools: save /workspace as it is, list and delete what was saved, put it
back, and fork a sandbox into a new one with a copy of its files.

Only files are saved, never the Python kernel's memory; each result says so. A
snapshot, restore or fork waits for the sandbox's calls in flight, and calls wait for
it (progress is reported meanwhile).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations as Hints
from pydantic import BaseModel, Field

from bay_mcp.mcp.arguments import SandboxId
from bay_mcp.mcp.confirmations import (
    RestoreConfirmed,
    SnapshotDeleteConfirmed,
    agreed,
    refusal,
)
from bay_mcp.mcp.plumbing import Tool, call, caller
from bay_mcp.mcp.progress import progress_for, with_heartbeat
from bay_mcp.services.views import (
    MAX_SNAPSHOT_NAME_CHARS,
    ForkedSandbox,
    SnapshotList,
    SnapshotRestored,
    SnapshotTaken,
)

SnapshotId = Annotated[
    str, Field(description="A snapshot's id (snap-…), as snapshot_sandbox or list_snapshots gave")
]


class SnapshotDeleted(BaseModel):
    sandbox_id: str
    snapshot_id: str
    status: Literal["deleted", "kept"] = Field(
        "deleted", description="kept: the user declined when asked; nothing changed"
    )
    message: str = "The snapshot is deleted."


class SnapshotRestore(BaseModel):
    """restore_snapshot's answer: the restore, or why nothing was restored."""

    status: Literal["restored", "kept"] = Field(
        description="kept: the user declined when asked; nothing changed"
    )
    sandbox_id: str
    snapshot_id: str
    size_bytes: int | None = Field(
        None, description="bytes of the files now in /workspace (restored only)"
    )
    copy_ms: int | None = None
    kernel_restarted: bool = Field(
        description="true once restored: the next call starts a fresh Python kernel"
    )
    message: str


async def snapshot_sandbox(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    name: Annotated[
        str | None,
        Field(
            max_length=MAX_SNAPSHOT_NAME_CHARS,
            description="A label to recognise it by, e.g. 'before refactor'",
        ),
    ] = None,
) -> SnapshotTaken:
    """Save a copy of the sandbox's /workspace files as a snapshot, to go back to
    with restore_snapshot or to start a new sandbox from with fork_sandbox. Taken
    between calls (it waits for running ones). Only files are saved: Python
    variables and running processes are not. Snapshots count against your quota."""
    bay, owner = await caller(ctx)
    progress = progress_for(ctx)
    return await call(
        with_heartbeat(
            bay.snapshots.create(owner, sandbox_id, name, progress),
            progress,
            "taking a snapshot",
        )
    )


async def list_snapshots(ctx: Context[Any, Any], sandbox_id: SandboxId) -> SnapshotList:
    """List the sandbox's snapshots, oldest first: id, name, size in bytes, time."""
    bay, owner = await caller(ctx)
    return await call(bay.snapshots.list(owner, sandbox_id))


async def restore_snapshot(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    snapshot_id: SnapshotId,
    confirmed: RestoreConfirmed,
) -> SnapshotRestore:
    """Put /workspace back exactly as it was in the snapshot: files made or changed
    since are lost. The sandbox restarts, so Python variables and imports are gone
    and must be set up again. The snapshot is kept. The user may be asked to confirm
    first; status "kept" means they declined and nothing changed."""
    if not agreed(confirmed):
        return SnapshotRestore(
            status="kept",
            sandbox_id=sandbox_id,
            snapshot_id=snapshot_id,
            kernel_restarted=False,
            message=refusal(confirmed, "Not restored"),
        )
    bay, owner = await caller(ctx)
    progress = progress_for(ctx)
    restored: SnapshotRestored = await call(
        with_heartbeat(
            bay.snapshots.restore(owner, sandbox_id, snapshot_id, progress),
            progress,
            "restoring the snapshot",
        )
    )
    return SnapshotRestore(status="restored", **restored.model_dump())


async def delete_snapshot(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    snapshot_id: SnapshotId,
    confirmed: SnapshotDeleteConfirmed,
) -> SnapshotDeleted:
    """Delete a snapshot for good, freeing its place in your quota. The user may be
    asked to confirm first; status "kept" means they declined and nothing changed."""
    if not agreed(confirmed):
        return SnapshotDeleted(
            sandbox_id=sandbox_id,
            snapshot_id=snapshot_id,
            status="kept",
            message=refusal(confirmed, "Not deleted"),
        )
    bay, owner = await caller(ctx)
    await call(bay.snapshots.delete(owner, sandbox_id, snapshot_id))
    return SnapshotDeleted(sandbox_id=sandbox_id, snapshot_id=snapshot_id)


async def fork_sandbox(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    snapshot_id: Annotated[
        str | None,
        Field(
            description="Copy this snapshot's files; omit to copy the sandbox's files as "
            "they are now"
        ),
    ] = None,
) -> ForkedSandbox:
    """Create a new sandbox (same profile and environment) with a copy of this
    sandbox's /workspace files, to try something without touching the original.
    The two change independently afterwards; the new one's Python kernel starts
    fresh. Returns the new sandbox, whose id you use from then on."""
    bay, owner = await caller(ctx)
    progress = progress_for(ctx)
    return await call(
        with_heartbeat(
            bay.snapshots.fork(owner, sandbox_id, snapshot_id, progress),
            progress,
            "forking the sandbox",
        )
    )


# Snapshots are Bay's own: a closed world.
MAKES = Hints(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
REPLACES = Hints(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
TOOLS = (
    Tool(snapshot_sandbox, MAKES),
    Tool(list_snapshots, Hints(read_only_hint=True, open_world_hint=False)),
    Tool(restore_snapshot, REPLACES),
    Tool(delete_snapshot, REPLACES),  # deleting it again changes nothing more
    Tool(fork_sandbox, MAKES),
)
