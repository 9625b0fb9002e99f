"""Handlers of `/v1/sandboxes`: create, list, get, extend the TTL, keep alive, stop, delete."""

from __future__ import annotations

from starlette.responses import Response

from bay_mcp.services.views import SandboxSummary
from rest import models
from rest.endpoint import Call, Result, dump


async def create_sandbox(call: Call) -> Result:
    body: models.CreateSandboxBody = call.body
    sandbox = await call.bay.sandboxes.create(
        call.owner,
        profile=body.profile,
        ttl_seconds=body.ttl,
        cargo_id=body.cargo_id,
        env=body.env,
        egress=body.egress,
        secrets=body.secrets or (),
    )
    return 201, dump(SandboxSummary.model_validate(sandbox.model_dump()))


async def list_sandboxes(call: Call) -> Result:
    query: models.SandboxListQuery = call.query
    page = await call.bay.sandboxes.list(call.owner, query.status, query.page())
    summaries = [SandboxSummary.model_validate(v.model_dump()) for v in page.items]
    return 200, dump(models.SandboxPage(items=summaries, next_cursor=page.next_cursor))


async def get_sandbox(call: Call) -> Result:
    return 200, dump(await call.bay.sandboxes.get(call.owner, call.params["sandbox_id"]))


async def extend_ttl(call: Call) -> Result:
    body: models.ExtendTtlBody = call.body
    view = await call.bay.sandboxes.extend_ttl(
        call.owner, call.params["sandbox_id"], body.extend_by
    )
    return 200, dump(SandboxSummary.model_validate(view.model_dump()))


async def keepalive(call: Call) -> Result:
    await call.bay.sandboxes.keepalive(call.owner, call.params["sandbox_id"])
    return 200, dump(models.StatusOk())


async def stop_sandbox(call: Call) -> Result:
    await call.bay.sandboxes.stop(call.owner, call.params["sandbox_id"])
    return 200, dump(models.StatusStopped())


async def delete_sandbox(call: Call) -> Result:
    await call.bay.sandboxes.delete(call.owner, call.params["sandbox_id"])
    return Response(status_code=204)
