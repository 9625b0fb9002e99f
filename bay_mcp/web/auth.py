"""Request ids, owners and body limits for every HTTP request, MCP and REST alike.

A pure ASGI middleware: it names the request (X-Request-Id in and out), asks the
`AccessPolicy` who the caller is (bearer key, anonymous, X-Owner for admins) and puts
the owner in the request's state, where REST routes and MCP tools read it. It also
refuses JSON bodies over their limit before anything reads them (uploads, which are
multipart, have their own per-profile limit in the upload route).
"""

from __future__ import annotations

import logging
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bay_mcp.errors import BayError, PayloadTooLarge
from bay_mcp.logs import about, owner_var, request_id_var
from bay_mcp.services.keys import AccessPolicy
from bay_mcp.web.preview import is_preview
from rest.errors import error_response

log = logging.getLogger(__name__)

PROTECTED = ("/v1", "/mcp", "/sse", "/messages")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def body_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is over the {limit}-byte limit (BAY_MAX_BODY_BYTES): send large "
        "files with the multipart upload endpoint",
        {"limit_bytes": limit},
    )


class AuthMiddleware:
    def __init__(
        self, app: ASGIApp, policy: AccessPolicy, *, loopback_bind: bool, max_body_bytes: int
    ) -> None:
        self.app = app
        self.policy = policy
        self.loopback_bind = loopback_bind
        self.max_body_bytes = max_body_bytes

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
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                if b"x-request-id" not in names:
                    message = dict(message)
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ]
            await send(message)

        try:
            # The preview proxy checks its own callers: a signed URL needs no key.
            if scope["path"].startswith(PROTECTED) and not is_preview(
                scope["path"], scope.get("method", "GET")
            ):
                state["owner"] = await self.policy.caller(
                    headers.get("authorization"),
                    headers.get("x-owner"),
                    loopback_bind=self.loopback_bind,
                )
                receive = self._limit_body(headers, receive)
                with about(owner_var, state["owner"]):
                    await self.app(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except BayError as error:
            if started:
                raise
            await error_response(error, request_id)(scope, receive, send)
        finally:
            request_id_var.reset(token)

    def _limit_body(self, headers: dict[str, str], receive: Receive) -> Receive:
        """Refuse a JSON body over the limit: at once when its length is declared,
        else as soon as the bytes received pass it."""
        if headers.get("content-type", "").startswith("multipart/form-data"):
            return receive
        limit = self.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise body_too_large(limit)
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise body_too_large(limit)
            return message

        return counting
