"""What the WebSocket endpoints that check their own callers (the preview proxy's and
the terminals') share: the request's headers and signed token, and a refusal."""

from __future__ import annotations

from starlette.types import Scope, Send

from bay_mcp.errors import BayError
from bay_mcp.services.ports import TOKEN_PARAMETER
from rest.errors import error_response


def header_items(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]


def headers_of(scope: Scope) -> dict[str, str]:
    return dict(header_items(scope))


def query_parts(scope: Scope) -> list[str]:
    raw: bytes = scope.get("query_string", b"")
    return [part for part in raw.decode("latin-1").split("&") if part]


def query_token(scope: Scope) -> str | None:
    """The signed token in the query (`?bay_token=…`), if any."""
    for part in query_parts(scope):
        name, _, value = part.partition("=")
        if name == TOKEN_PARAMETER:
            return value
    return None


async def deny_websocket(scope: Scope, send: Send, error: BayError, request_id: str) -> None:
    """Refuse a WebSocket: with the contract's error body where the server can send
    one (the ASGI denial response), else with a close before the handshake (a 403)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    response = error_response(error, request_id)
    await send(
        {
            "type": "websocket.http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "websocket.http.response.body", "body": response.body})
