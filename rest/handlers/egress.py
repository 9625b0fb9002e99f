"""Handlers of a sandbox's egress log."""

from __future__ import annotations

from rest import models
from rest.endpoint import Call, Result, dump


async def egress_log(call: Call) -> Result:
    query: models.EgressLogQuery = call.query
    log = await call.bay.egress.log(
        call.owner, call.params["sandbox_id"], query.limit, query.before
    )
    return 200, dump(log)
