"""Ship's token check: every route but the protocol's unauthenticated ones wants the token.

A request must carry `Authorization: Bearer <SHIP_TOKEN>` unless its route is marked
unauthenticated in the protocol's table (`GET /health` and `GET /meta`).
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from ship import protocol
from ship.errors import Unauthorized
from ship.wire import error_response

OPEN_PATHS = frozenset(route.path for route in protocol.ROUTES if not route.authenticated)


class BearerTokenMiddleware:
    """Refuse every request to an authenticated route that lacks the session's token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                response = error_response(
                    Unauthorized("missing or wrong bearer token: only Bay may call Ship")
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
