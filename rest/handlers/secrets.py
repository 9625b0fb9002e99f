"""Handlers of `/v1/secrets`: an owner's named secrets; no answer ever holds a value."""

from __future__ import annotations

from starlette.responses import Response

from bay_mcp.services.secret_views import SecretList
from rest import models
from rest.endpoint import Call, Result, dump


async def list_secrets(call: Call) -> Result:
    return 200, dump(SecretList(items=await call.bay.secrets.list(call.owner)))


async def set_secret(call: Call) -> Result:
    body: models.SetSecretBody = call.body
    return 200, dump(await call.bay.secrets.set(call.owner, call.params["name"], body.value))


async def delete_secret(call: Call) -> Result:
    await call.bay.secrets.delete(call.owner, call.params["name"])
    return Response(status_code=204)
