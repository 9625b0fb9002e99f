"""`GET /metrics` (Prometheus text) and the middleware that counts HTTP requests by
route template, method and status.

`/metrics` is open on a loopback bind (a local Prometheus scrapes it), to admin keys
elsewhere, and to everyone with BAY_METRICS_PUBLIC=true.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bay_mcp.bay import Bay
from bay_mcp.errors import BayError
from bay_mcp.metrics import CONTENT_TYPE, Metrics
from rest.errors import error_response


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            # The template, never the path itself: label values stay bounded.
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.http_requests.labels(
                route=template, method=scope["method"], status=str(status)
            ).inc()
            self.metrics.http_seconds.labels(route=template).observe(time.monotonic() - started)


def metrics_route(bay: Bay, *, loopback_bind: bool) -> Route:
    async def metrics(request: Request) -> Response:
        if not (loopback_bind or bay.settings.metrics_public):
            try:
                owner = await bay.access.caller(
                    request.headers.get("authorization"), None, loopback_bind=False
                )
                bay.access.require_admin(owner)
            except BayError as exc:
                return error_response(exc, getattr(request.state, "request_id", "-"))
        bay.metrics.set_sandbox_counts(await bay.sandboxes.count_by_status())
        return Response(bay.metrics.render(), media_type=CONTENT_TYPE)

    return Route("/metrics", metrics, methods=["GET"])
