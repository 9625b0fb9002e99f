"""Handlers of `/v1/admin`: run garbage collection, read its status."""

from __future__ import annotations

from rest import models
from rest.endpoint import Call, Result, dump


async def gc_run(call: Call) -> Result:
    body: models.GcRunBody = call.body
    return 200, dump(await call.bay.admin.run_gc(call.owner, body.tasks))


async def gc_status(call: Call) -> Result:
    return 200, dump(call.bay.admin.gc_status(call.owner))
