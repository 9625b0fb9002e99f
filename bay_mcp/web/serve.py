"""`bay-mcp serve --transport http`: uvicorn around the HTTP app, with the bind checks."""

from __future__ import annotations

import logging

import uvicorn

from bay_mcp.bay import Bay
from bay_mcp.secret_box import SecretKeyError
from bay_mcp.settings import BaySettings
from bay_mcp.web.app import create_http_app, is_loopback

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 15


class RefusedToStart(Exception):
    """The server would be an open door: the message says what to configure."""


async def check_bind(bay: Bay, host: str) -> None:
    if is_loopback(host):
        return
    if bay.settings.allow_anonymous:
        raise RefusedToStart(
            f"refusing to serve anonymous access on {host}, a non-loopback address: anyone "
            "who reaches it could run code. Unset BAY_ALLOW_ANONYMOUS and use API keys, or "
            "bind to 127.0.0.1."
        )
    await bay.db.migrate()
    if not await bay.keys.has_usable_keys():
        raise RefusedToStart(
            f"refusing to serve on {host} with no API key (none exists, or every one is "
            "revoked or expired): create one with "
            "`bay-mcp keys create --owner NAME` or set BAY_API_KEY, or bind to 127.0.0.1."
        )


def public_url(host: str, port: int) -> str:
    """Where the server is reached when BAY_PUBLIC_URL does not say: its bind address
    (loopback for a wildcard bind: set BAY_PUBLIC_URL to be reached from elsewhere)."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve_http(settings: BaySettings, host: str, port: int) -> None:
    bay = Bay(settings)
    try:
        await check_bind(bay, host)
        try:
            bay.load_secrets_key()  # before serving: a bad key file stops the start cleanly
        except SecretKeyError as exc:
            raise RefusedToStart(str(exc)) from exc
    except RefusedToStart:
        await bay.close()
        raise
    loopback = is_loopback(host)
    app = create_http_app(bay, loopback_bind=loopback, public_url=public_url(host, port))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # our logging configuration: stderr, with request ids
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        proxy_headers=False,
    )
    log.info("serving MCP at http://%s:%d/mcp (SSE: /sse), REST at /v1", host, port)
    await bay.db.migrate()
    if await bay.access.anonymous_allowed(loopback):
        log.warning("anonymous access %s", bay.access.describe_anonymous(loopback))
    else:
        log.info("anonymous access off: every request needs an API key")
    await uvicorn.Server(config).serve()
