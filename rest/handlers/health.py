"""The handler of `GET /health`: version, database and driver checks, the warm pool.

Outside the `/v1` table: it needs no owner and answers 503 when a check fails.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bay_mcp import __version__
from bay_mcp.services.health import HealthService
from rest import models
from rest.endpoint import dump


def health_route(service: HealthService) -> Route:
    async def health(request: Request) -> Response:
        report = await service.check()
        body = models.HealthBody(
            status="healthy" if report.healthy else "unhealthy",
            version=__version__,
            checks=report.checks,
            pool=report.pool,
        )
        return JSONResponse(dump(body), status_code=200 if report.healthy else 503)

    return Route("/health", health, methods=["GET"])
