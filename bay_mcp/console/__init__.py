"""The operator console at `/ui` on Bay's HTTP server: server-rendered pages (Jinja2),
a little htmx and xterm.js, vendored into `static/vendor/` (scripts/vendor-console,
never a CDN: the console works offline).

Only wiring: the pages are in `pages`, the actions in `actions`, sessions and CSRF in
`access`, templates in `render`. Every action goes through Bay's services, as REST and
MCP do; the console has no rule of its own.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bay_mcp.bay import Bay
from bay_mcp.console import actions, pages
from bay_mcp.console.access import Console, ConsoleRequest, secure
from bay_mcp.console.render import STATIC, render_page
from bay_mcp.errors import BayError

__all__ = ["console_routes"]

log = logging.getLogger(__name__)

SANDBOX = "/ui/sandboxes/{sandbox_id}"
SNAPSHOT = SANDBOX + "/snapshots/{snapshot_id}"


def _error_page(call: ConsoleRequest | None, request: Request, error: BayError) -> Response:
    """A refused or failed action, said on a page (or, for htmx, in the fragment)."""
    if "hx-request" in request.headers:
        return Response(error.message, status_code=error.status, media_type="text/plain")
    return render_page(
        request,
        "error.html",
        caller=call.caller if call else None,
        http_status=error.status,
        error=error.message,
        code=error.code,
        back=request.headers.get("referer") or "/ui/sandboxes",
    )


def console_routes(bay: Bay, *, loopback_bind: bool) -> list[BaseRoute]:
    console = Console(bay, loopback_bind=loopback_bind, on_error=_error_page)
    page = console.page

    async def index(request: Request) -> Response:
        return secure(RedirectResponse("/ui/sandboxes", status_code=303))

    async def login_page(request: Request) -> Response:
        return await actions.login_page(console, request)

    async def login(request: Request) -> Response:
        return await actions.login(console, request)

    return [
        Route("/ui", index, methods=["GET"]),
        Route("/ui/", index, methods=["GET"]),
        Route("/ui/login", login_page, methods=["GET"]),
        Route("/ui/login", login, methods=["POST"]),
        Route("/ui/logout", page(actions.logout), methods=["POST"]),
        Route("/ui/sandboxes", page(pages.sandboxes), methods=["GET"]),
        Route("/ui/usage", page(pages.usage), methods=["GET"]),
        Route(SANDBOX, page(pages.sandbox), methods=["GET"]),
        Route(SANDBOX + "/live", page(pages.live_runs), methods=["GET"]),
        Route(SANDBOX + "/files", page(pages.files), methods=["GET"]),
        Route(SANDBOX + "/files/download", page(pages.download), methods=["GET"]),
        Route(SANDBOX + "/files/upload", page(actions.upload), methods=["POST"]),
        Route(SANDBOX + "/files/delete", page(actions.delete_file), methods=["POST"]),
        Route(SANDBOX + "/runs", page(pages.runs), methods=["GET"]),
        Route(SANDBOX + "/runs/{execution_id}", page(pages.run), methods=["GET"]),
        Route(SANDBOX + "/terminal", page(pages.terminal), methods=["GET"]),
        Route(SANDBOX + "/stop", page(actions.stop_sandbox), methods=["POST"]),
        Route(SANDBOX + "/delete", page(actions.delete_sandbox), methods=["POST"]),
        Route(SANDBOX + "/snapshots", page(actions.take_snapshot), methods=["POST"]),
        Route(SNAPSHOT + "/restore", page(actions.restore_snapshot), methods=["POST"]),
        Route(SNAPSHOT + "/fork", page(actions.fork_snapshot), methods=["POST"]),
        Route(SNAPSHOT + "/delete", page(actions.delete_snapshot), methods=["POST"]),
        Route("/ui/health", page(pages.health), methods=["GET"]),
        Route("/ui/keys", page(pages.keys), methods=["GET"]),
        Route("/ui/keys", page(actions.create_key), methods=["POST"]),
        Route("/ui/keys/{key_id}/revoke", page(actions.revoke_key), methods=["POST"]),
        Mount(STATIC, StaticFiles(packages=[("bay_mcp.console", "static")]), name="static"),
    ]
