"""The handler of `GET /health`: version, database and driver checks, the warm pool.

Outside the `/v1` table: it needs no owner and answers 503 when a check fails.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bay_mcp import __version__
from bay_mcp.bay import Bay
from rest import models
from rest.endpoint import dump


def health_route(bay: Bay) -> Route:
    async def health(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await bay.db.ping()
            checks["database"] = "ok (sqlite)" if bay.db.is_sqlite else "ok (postgresql)"
        except Exception as exc:  # reported, not raised: this is the health check
            checks["database"] = f"failing: {type(exc).__name__}"
        try:
            checks["driver"] = f"ok ({bay.settings.driver} {await bay.driver.ping()})"
        except Exception as exc:
            checks["driver"] = f"failing: {exc}"
        healthy = all(value.startswith("ok") for value in checks.values())
        body = models.HealthBody(
            status="healthy" if healthy else "unhealthy",
            version=__version__,
            checks=checks,
            pool=bay.pool.report(),
        )
        return JSONResponse(dump(body), status_code=200 if healthy else 503)

    return Route("/health", health, methods=["GET"])
