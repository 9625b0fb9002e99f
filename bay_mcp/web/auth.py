"""Request ids and owners for every HTTP request, MCP and REST alike.

A pure ASGI middleware: it names the request (X-Request-Id in and out), then maps
its bearer key to an owner, or, when anonymous access is on, takes the owner from
X-Owner (default `default`). The owner is put in the request's state, where REST
routes and MCP tools read it.
"""

from __future__ import annotations

import json
import logging
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bay_mcp.logs import request_id_var
from bay_mcp.services.keys import OWNER_PATTERN, KeyService

log = logging.getLogger(__name__)

PROTECTED = ("/v1", "/mcp", "/sse", "/messages")
ANONYMOUS_OWNER = "default"
BAD_OWNER = "X-Owner must be 1–64 letters, digits or . _ @ - (starting with a letter or digit)"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _error(status: int, code: str, message: str, request_id: str) -> tuple[Message, Message]:
    body = json.dumps(
        {"error": {"code": code, "message": message, "request_id": request_id, "details": {}}}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="bay"'))
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


class AuthMiddleware:
    def __init__(self, app: ASGIApp, keys: KeyService, *, allow_anonymous: bool) -> None:
        self.app = app
        self.keys = keys
        self.allow_anonymous = allow_anonymous

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else f"req-{secrets.token_hex(8)}"
        token = request_id_var.set(request_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                if b"x-request-id" not in names:
                    message = dict(message)
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ]
            await send(message)

        try:
            path: str = scope["path"]
            if path.startswith(PROTECTED):
                owner, problem = await self._owner(headers)
                if owner is None:
                    status, code = (
                        (400, "validation_error") if problem == BAD_OWNER else (401, "unauthorized")
                    )
                    start, body = _error(status, code, problem, request_id)
                    await send(start)
                    await send(body)
                    return
                state["owner"] = owner
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)

    async def _owner(self, headers: dict[str, str]) -> tuple[str | None, str]:
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, key = authorization.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                return None, "the Authorization header must be 'Bearer <api key>'"
            owner = await self.keys.owner_for(key.strip())
            if owner is None:
                return None, "the API key is unknown or revoked"
            return owner, ""
        if not self.allow_anonymous:
            return None, (
                "an API key is required: send 'Authorization: Bearer <key>' "
                "(create one with `bay-mcp keys create --owner NAME`)"
            )
        owner = headers.get("x-owner", ANONYMOUS_OWNER)
        if not re.match(OWNER_PATTERN, owner):
            return None, BAD_OWNER
        return owner, ""
