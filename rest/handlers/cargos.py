"""Handlers of `/v1/cargos`: create, list, get, delete external cargos."""

from __future__ import annotations

from starlette.responses import Response

from rest import models
from rest.endpoint import Call, Result, dump


async def create_cargo(call: Call) -> Result:
    body: models.CreateCargoBody = call.body
    return 201, dump(await call.bay.cargos.create(call.owner, body.size_limit_mb))


async def list_cargos(call: Call) -> Result:
    query: models.CargoListQuery = call.query
    page = await call.bay.cargos.list(call.owner, query.managed, query.page())
    return 200, dump(models.CargoPage(items=page.items, next_cursor=page.next_cursor))


async def get_cargo(call: Call) -> Result:
    return 200, dump(await call.bay.cargos.get(call.owner, call.params["cargo_id"]))


async def delete_cargo(call: Call) -> Result:
    await call.bay.cargos.delete(call.owner, call.params["cargo_id"])
    return Response(status_code=204)
