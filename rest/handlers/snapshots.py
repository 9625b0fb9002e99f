"""Handlers of a sandbox's snapshots (take, list, delete, restore) and of forks."""

from __future__ import annotations

from starlette.responses import Response

from bay_mcp.managers import no_progress
from rest import models
from rest.endpoint import Call, Result, dump


async def create_snapshot(call: Call) -> Result:
    body: models.CreateSnapshotBody = call.body
    taken = await call.bay.snapshots.create(
        call.owner, call.params["sandbox_id"], body.name, no_progress
    )
    return 201, dump(taken)


async def list_snapshots(call: Call) -> Result:
    return 200, dump(await call.bay.snapshots.list(call.owner, call.params["sandbox_id"]))


async def delete_snapshot(call: Call) -> Result:
    params = call.params
    await call.bay.snapshots.delete(call.owner, params["sandbox_id"], params["snapshot_id"])
    return Response(status_code=204)


async def restore_snapshot(call: Call) -> Result:
    params = call.params
    restored = await call.bay.snapshots.restore(
        call.owner, params["sandbox_id"], params["snapshot_id"], no_progress
    )
    return 200, dump(restored)


async def fork_sandbox(call: Call) -> Result:
    body: models.ForkBody = call.body
    forked = await call.bay.snapshots.fork(
        call.owner, call.params["sandbox_id"], body.snapshot_id, no_progress
    )
    return 201, dump(forked)
