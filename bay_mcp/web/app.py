"""One Starlette app: `/mcp` (streamable HTTP), `/sse` + `/messages/` (SSE), `/v1`
(REST), `/ui` (the console), `/health` and `/openapi.json`, all over one `Bay`.

The app's lifespan owns Bay (database, Docker client, background tasks) and the MCP
session manager; the MCP server's per-connection lifespan owns nothing.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bay_mcp.bay import Bay
from bay_mcp.console import console_routes
from bay_mcp.console.access import websocket_owner
from bay_mcp.errors import BayError, NotFound, ValidationFailed
from bay_mcp.mcp.server import create_mcp_server
from bay_mcp.web.auth import AuthMiddleware
from bay_mcp.web.metrics import RequestMetricsMiddleware, metrics_route
from bay_mcp.web.preview import PreviewProxy
from bay_mcp.web.terminal import TerminalSocket
from rest.errors import error_response
from rest.handlers.health import health_route
from rest.openapi import openapi_document
from rest.routes import rest_routes

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def owner_of_request(ctx: Context[Any, Any] | None) -> str:
    """The owner the auth middleware put on the HTTP request carrying this MCP call."""
    request = ctx.request_context.request if ctx is not None else None
    owner = getattr(getattr(request, "state", None), "owner", None)
    if not isinstance(owner, str):
        raise ToolError("this call carries no authenticated owner")
    return owner


def transport_security(allowed_hosts: list[str]) -> TransportSecuritySettings:
    if "*" in allowed_hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = [*LOOPBACK_HOSTS, *allowed_hosts]
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def create_http_app(bay: Bay, *, loopback_bind: bool, public_url: str | None = None) -> Starlette:
    """The app over `bay`; `loopback_bind` says whether the server listens on loopback
    only (anonymous access may then be on while no key exists); `public_url` is where
    people reach it (preview URLs; BAY_PUBLIC_URL wins)."""

    async def ready() -> Bay:  # the lifespan starts Bay before the first request
        return bay

    mcp = create_mcp_server(ready, owner_of_request)
    bay.ports.serve_through(bay.settings.public_url or public_url or "http://127.0.0.1")
    preview = PreviewProxy(bay.ports, bay.access, loopback_bind=loopback_bind)
    terminals = TerminalSocket(
        bay.terminals,
        bay.access,
        loopback_bind=loopback_bind,
        session_owner=websocket_owner(bay, loopback_bind=loopback_bind),
    )
    security = transport_security(bay.settings.allowed_hosts)
    # The MCP sub-apps' routes join ours (not mounted at "/"), so that unknown paths get
    # the contract's 404 and the session manager runs in our lifespan.
    mcp_routes: list[BaseRoute] = [
        # 2026-07-28 requests keep no server-side session; for older clients,
        # BAY_STATELESS_HTTP does the same, so any replica behind a load balancer
        # answers any request. SSE (below) needs stickiness.
        *mcp.streamable_http_app(
            transport_security=security, stateless_http=bay.settings.stateless_http
        ).routes,
        *mcp.sse_app(transport_security=security).routes,
    ]

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    routes: list[BaseRoute] = [
        health_route(bay.health),
        metrics_route(bay, loopback_bind=loopback_bind),
        Route("/openapi.json", openapi, methods=["GET"]),
        *rest_routes(bay),  # first: its DELETE …/ports/{port} closes a port
        *preview.routes(),
        *terminals.routes(),
        *console_routes(bay, loopback_bind=loopback_bind),
        *mcp_routes,
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bay.start()
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            await preview.close()
            await bay.close()

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        request_id = getattr(request.state, "request_id", "-")
        error: BayError
        if exc.status_code == 404:
            error = NotFound(f"no such endpoint: {request.method} {request.url.path}")
        elif exc.status_code == 405:
            error = ValidationFailed(f"{request.method} is not allowed on {request.url.path}")
            error.status = 405
            error.code = "method_not_allowed"
        else:
            error = ValidationFailed(str(exc.detail))
            error.status = exc.status_code
        return error_response(error, request_id)

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestMetricsMiddleware, metrics=bay.metrics),
            Middleware(
                AuthMiddleware,
                policy=bay.access,
                loopback_bind=loopback_bind,
                max_body_bytes=bay.settings.max_body_bytes,
            ),
        ],
        exception_handlers={HTTPException: on_http_error},
    )
