"""Handlers of a sandbox's execution history: list, last, one entry, annotate."""

from __future__ import annotations

from rest import models
from rest.endpoint import Call, Result, dump


async def history(call: Call) -> Result:
    query: models.HistoryQuery = call.query
    page = await call.bay.history.list(
        call.owner,
        call.params["sandbox_id"],
        exec_type=query.exec_type,
        success_only=query.success_only,
        tags=query.tags,
        has_notes=query.has_notes,
        has_description=query.has_description,
        limit=query.limit,
        offset=query.offset,
    )
    return 200, dump(page)


async def history_last(call: Call) -> Result:
    query: models.LastQuery = call.query
    entry = await call.bay.history.last(call.owner, call.params["sandbox_id"], query.exec_type)
    return 200, dump(entry)


async def history_entry(call: Call) -> Result:
    params = call.params
    entry = await call.bay.history.get(call.owner, params["sandbox_id"], params["execution_id"])
    return 200, dump(entry)


async def annotate(call: Call) -> Result:
    body: models.AnnotateBody = call.body
    entry = await call.bay.history.annotate(
        call.owner,
        call.params["sandbox_id"],
        call.params["execution_id"],
        description=body.description,
        tags=body.tags,
        notes=body.notes,
    )
    return 200, dump(entry)
