"""Handlers of a sandbox's exposed ports: expose, list, close."""

from __future__ import annotations

from starlette.responses import Response

from bay_mcp.errors import NotFound
from rest import models
from rest.endpoint import Call, Result, dump


async def expose_port(call: Call) -> Result:
    body: models.ExposePortBody = call.body
    exposed = await call.bay.ports.expose(call.owner, call.params["sandbox_id"], body.port)
    return 201, dump(exposed)


async def list_ports(call: Call) -> Result:
    ports = await call.bay.ports.list(call.owner, call.params["sandbox_id"])
    return 200, dump(models.PortList(ports=ports))


async def unexpose_port(call: Call) -> Result:
    sandbox_id, port = call.params["sandbox_id"], call.params["port"]
    if not port.isdigit() or not await call.bay.ports.unexpose(call.owner, sandbox_id, int(port)):
        raise NotFound(
            f"port {port} of sandbox {sandbox_id} is not exposed (GET …/ports lists them)"
        )
    return Response(status_code=204)
