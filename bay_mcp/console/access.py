"""Who a console request comes from, and the checks every console response gets.

- The session cookie (`bay_console`): HttpOnly, SameSite=Strict, Secure over HTTPS; it
  holds a random token, never the key (`ConsoleSessions`).
- CSRF: every POST carries the session's token (a form's `csrf` field, or htmx's
  `X-CSRF-Token` header); sign-in, before any session, uses a double-submit cookie.
- Headers on every console answer: a CSP allowing our own scripts only (so the vendored
  htmx and xterm.js, never a CDN, and no inline script; inline styles are allowed, as
  xterm.js sizes its rows with them), no framing, no referrer, no caching.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bay_mcp.bay import Bay
from bay_mcp.errors import BayError, Forbidden
from bay_mcp.services.console_sessions import SESSION_LIFETIME, ConsoleCaller

log = logging.getLogger(__name__)

SESSION_COOKIE = "bay_console"
LOGIN_CSRF_COOKIE = "bay_console_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class ConsoleRequest:
    """A signed-in console request: the caller, the request, and Bay's services."""

    request: Request
    bay: Bay
    caller: ConsoleCaller

    @property
    def owner(self) -> str:
        return self.caller.owner

    async def owner_of(self, sandbox_id: str) -> str:
        """The owner to act as on this sandbox (`SandboxCatalogue.acting_owner`);
        NotFound when the caller may not see it."""
        owner = await self.bay.sandboxes.acting_owner(
            self.caller.owner, self.caller.is_admin, sandbox_id
        )
        await self.bay.sandboxes.check_owner(owner, sandbox_id)
        return owner

    def require_admin(self) -> None:
        if not self.caller.is_admin:
            raise Forbidden(
                f"owner {self.owner} may not manage keys (BAY_ADMIN_OWNERS lists who may)"
            )


Page = Callable[[ConsoleRequest], Awaitable[Response]]


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        # "/" and not "/ui": the console's terminal is a WebSocket under /v1.
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def login_csrf(request: Request) -> str:
    """The sign-in form's token: the cookie's if the browser has one, else a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path="/ui/login",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


class Console:
    """Wraps console handlers: a session is required (else to the sign-in page), and
    a POST without the session's CSRF token is refused (403)."""

    def __init__(
        self,
        bay: Bay,
        *,
        loopback_bind: bool,
        on_error: Callable[[ConsoleRequest | None, Request, BayError], Response],
    ) -> None:
        self.bay = bay
        self.loopback_bind = loopback_bind
        self._on_error = on_error

    async def caller(self, request: Request) -> ConsoleCaller | None:
        return await self.bay.console_sessions.caller(
            request.cookies.get(SESSION_COOKIE), loopback_bind=self.loopback_bind
        )

    def page(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            caller = await self.caller(request)
            if caller is None:
                if request.method == "GET" and "hx-request" not in request.headers:
                    return secure(RedirectResponse("/ui/login", status_code=303))
                response = Response("sign in again: your console session ended", 401)
                response.headers["HX-Redirect"] = "/ui/login"
                return secure(response)
            call = ConsoleRequest(request, self.bay, caller)
            try:
                if request.method == "POST":
                    await self._check_csrf(call)
                return secure(await handler(call))
            except BayError as error:
                return secure(self._on_error(call, request, error))
            finally:
                # A parsed form's uploaded files are spooled to temporary files that
                # Starlette leaves open: close them once the action is done.
                await request.close()

        endpoint.__name__ = handler.__name__
        return endpoint

    async def _check_csrf(self, call: ConsoleRequest) -> None:
        given = call.request.headers.get(CSRF_HEADER)
        if given is None:
            form = await call.request.form()
            field = form.get(CSRF_FIELD)
            given = field if isinstance(field, str) else None
        if not call.caller.csrf_matches(given):
            log.warning("console: a POST to %s without its CSRF token", call.request.url.path)
            raise Forbidden(
                "this form's security token is missing or stale: reload the page and try again"
            )


def websocket_owner(
    bay: Bay, *, loopback_bind: bool
) -> Callable[[dict[str, str], str], Awaitable[str | None]]:
    """How the terminal socket finds a console session's owner: the session cookie,
    sent only from a page of this server (its Origin must be this host: a WebSocket
    is not held to the same-origin rule, so a check stands in for it)."""

    async def owner(headers: dict[str, str], sandbox_id: str) -> str | None:
        token = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        origin = headers.get("origin", "")
        if token is None or origin.partition("://")[2] != headers.get("host"):
            return None
        caller = await bay.console_sessions.caller(token, loopback_bind=loopback_bind)
        if caller is None:
            return None
        return await bay.sandboxes.acting_owner(caller.owner, caller.is_admin, sandbox_id)

    return owner


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None
