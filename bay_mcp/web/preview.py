"""The preview proxy: `/v1/sandboxes/{id}/ports/{port}/{path}` reaches the server a
sandbox runs on an exposed port: HTTP (any method, bodies streamed both ways) and
WebSocket.

Who may: the owner's API key, as everywhere under `/v1`, or the signed token of a
preview URL (`?bay_token=…`, for a person's browser). A request that brings the token
in its query gets it back as a cookie scoped to the port's path, so that the page's
relative links, assets and WebSockets work without it. Bay's key, token and cookie
never reach the sandbox; the app's own cookies and (with a token) Authorization do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any

import httpx
import websockets
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect

from bay_mcp.errors import BayError, ShipError
from bay_mcp.services.keys import AccessPolicy
from bay_mcp.services.ports import TOKEN_PARAMETER, PortService, not_listening, proxy_path
from bay_mcp.web.handshake import (
    deny_websocket,
    header_items,
    headers_of,
    query_parts,
    query_token,
)
from rest.errors import error_response

log = logging.getLogger(__name__)

PREVIEW_PATH = re.compile(r"^/v1/sandboxes/[^/]+/ports/\d+(/|$)")
_PORT_ITSELF = re.compile(r"^/v1/sandboxes/[^/]+/ports/\d+$")
COOKIE = "bay_preview"
# Headers about one connection, not the message: never passed on.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "host",
    }
)  # fmt: skip
WS_MAX_MESSAGE = 16 * 1024 * 1024


def is_preview(path: str, method: str = "GET") -> bool:
    """Whether `path` is the proxy's (which authenticates its own requests). A DELETE
    of the port itself (no trailing slash) is REST's: close the port."""
    if method == "DELETE" and _PORT_ITSELF.match(path):
        return False
    return PREVIEW_PATH.match(path) is not None


class _Caller:
    """Who a proxied request acts for, and how it proved it."""

    def __init__(self, owner: str, *, by_key: bool, new_token: str | None = None) -> None:
        self.owner = owner
        self.by_key = by_key  # its Authorization header was Bay's: not passed on
        self.new_token = new_token  # came in the query: set as the cookie
        self.expires_at: datetime | None = None


class PreviewProxy:
    """An ASGI app for the proxy's routes (HTTP and WebSocket scopes)."""

    def __init__(self, ports: PortService, policy: AccessPolicy, *, loopback_bind: bool) -> None:
        self._ports = ports
        self._policy = policy
        self._loopback_bind = loopback_bind
        # Upstream servers are in sandboxes: no proxy from the environment, no redirect
        # followed; no read deadline, since server-sent events and long polls wait as
        # long as the server does (the client's disconnect ends them).
        self._client = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(connect=10.0, read=None, write=60.0, pool=10.0),
        )

    def routes(self) -> list[BaseRoute]:
        path = "/v1/sandboxes/{sandbox_id}/ports/{port:int}"
        return [
            Route(path, self, name="preview_root"),
            Route(path + "/{path:path}", self, name="preview"),
            WebSocketRoute(path + "/{path:path}", self, name="preview_websocket"),
        ]

    async def close(self) -> None:
        await self._client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id") or f"req-{secrets.token_hex(8)}"
        params = scope["path_params"]
        sandbox_id, port = str(params["sandbox_id"]), int(params["port"])
        if "path" not in params:  # the port's root without its slash: relative links need it
            await self._redirect_to_slash(scope, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send, sandbox_id, port, request_id)
        else:
            await self._http(scope, receive, send, sandbox_id, port, request_id)

    # -- who ------------------------------------------------------------------------

    async def _caller(self, scope: Scope, sandbox_id: str, port: int) -> _Caller:
        headers = headers_of(scope)
        in_query = query_token(scope)
        token = in_query or _cookies(headers).get(COOKIE)
        if token is not None:
            grant = self._ports.tokens.verify(token, sandbox_id, port)
            caller = _Caller(grant.owner, by_key=False, new_token=in_query)
            caller.expires_at = grant.expires_at
            return caller
        owner = await self._policy.caller(
            headers.get("authorization"), headers.get("x-owner"), loopback_bind=self._loopback_bind
        )
        return _Caller(owner, by_key=True)

    def _upstream_headers(self, scope: Scope, caller: _Caller, port: int) -> list[tuple[str, str]]:
        prefix = proxy_path(*_target_of(scope))
        forwarded: list[tuple[str, str]] = []
        for name, value in header_items(scope):
            if name in HOP_BY_HOP or name.startswith("sec-websocket-"):
                continue
            if caller.by_key and name in ("authorization", "x-owner"):
                continue
            if name == "cookie":
                value = _without_our_cookie(value)
                if not value:
                    continue
            forwarded.append((name, value))
        client = scope.get("client")
        host = headers_of(scope).get("host", "")
        forwarded += [
            # The server sees itself addressed as it would be inside the sandbox (dev
            # servers that check Host accept localhost); where the request came from:
            ("host", f"localhost:{port}"),
            ("x-forwarded-host", host),
            ("x-forwarded-proto", "https" if scope.get("scheme") in ("https", "wss") else "http"),
            ("x-forwarded-prefix", prefix),
        ]
        if client:
            forwarded.append(("x-forwarded-for", str(client[0])))
        return forwarded

    # -- HTTP -----------------------------------------------------------------------

    async def _http(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        sandbox_id: str,
        port: int,
        request_id: str,
    ) -> None:
        try:
            caller = await self._caller(scope, sandbox_id, port)
            host, target_port = await self._ports.target(caller.owner, sandbox_id, port)
            headers = headers_of(scope)
            has_body = "content-length" in headers or "transfer-encoding" in headers
            request = self._client.build_request(
                scope["method"],
                f"http://{host}:{target_port}{_upstream_path(scope)}",
                headers=self._upstream_headers(scope, caller, port),
                content=_body(receive) if has_body else None,
            )
            try:
                response = await self._client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise not_listening(sandbox_id, port) from exc
            except httpx.HTTPError as exc:
                raise ShipError(
                    f"the server on port {port} of sandbox {sandbox_id} failed to answer: {exc}"
                ) from exc
        except BayError as error:
            await error_response(error, request_id)(scope, receive, send)
            return
        try:
            prefix = proxy_path(sandbox_id, port)
            out: list[tuple[bytes, bytes]] = []
            for name, value in response.headers.multi_items():
                lower = name.lower()
                if lower in HOP_BY_HOP:
                    continue
                if lower == "location":
                    value = _relocated(value, prefix, port)
                out.append((lower.encode("latin-1"), value.encode("latin-1")))
            if caller.new_token is not None:
                out.append((b"set-cookie", _cookie(caller, prefix, scope).encode("latin-1")))
            out.append((b"x-request-id", request_id.encode()))
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": out}
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError as exc:
            # The status went out already: all one can do is cut the response short.
            log.warning("port %d of sandbox %s: response cut short: %s", port, sandbox_id, exc)
        except OSError:
            # The client went away (a closed tab, an event stream left): nothing to answer.
            log.debug("port %d of sandbox %s: the client left mid-response", port, sandbox_id)
        finally:
            await response.aclose()

    async def _redirect_to_slash(self, scope: Scope, send: Send) -> None:
        query = scope.get("query_string", b"")
        location = scope["path"] + "/" + ("?" + query.decode("latin-1") if query else "")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 307,
                "headers": [(b"location", location.encode("latin-1"))],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    # -- WebSocket ------------------------------------------------------------------

    async def _websocket(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        sandbox_id: str,
        port: int,
        request_id: str,
    ) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            caller = await self._caller(scope, sandbox_id, port)
            host, target_port = await self._ports.target(caller.owner, sandbox_id, port)
            headers = [
                (name, value)
                for name, value in self._upstream_headers(scope, caller, port)
                if name in ("cookie", "authorization") or name.startswith("x-forwarded-")
            ]
            upstream = await self._open_websocket(
                f"ws://{host}:{target_port}{_upstream_path(scope)}",
                scope.get("subprotocols") or [],
                headers,
                sandbox_id,
                port,
            )
        except BayError as error:
            await deny_websocket(scope, send, error, request_id)
            return
        try:
            accept: dict[str, Any] = {
                "type": "websocket.accept",
                "subprotocol": upstream.subprotocol,
            }
            if caller.new_token is not None:
                cookie = _cookie(caller, proxy_path(sandbox_id, port), scope)
                accept["headers"] = [(b"set-cookie", cookie.encode("latin-1"))]
            await send(accept)
            async with self._ports.held(sandbox_id):
                await _relay(receive, send, upstream)
        finally:
            await upstream.close()

    async def _open_websocket(
        self,
        url: str,
        subprotocols: list[str],
        headers: list[tuple[str, str]],
        sandbox_id: str,
        port: int,
    ) -> ClientConnection:
        try:
            return await connect(
                url,
                subprotocols=[websockets.Subprotocol(p) for p in subprotocols] or None,
                additional_headers=headers,
                proxy=None,
                compression=None,
                max_size=WS_MAX_MESSAGE,
                open_timeout=10,
                user_agent_header=None,
            )
        except (OSError, TimeoutError) as exc:
            raise not_listening(sandbox_id, port) from exc
        except websockets.InvalidHandshake as exc:
            raise ShipError(
                f"the server on port {port} of sandbox {sandbox_id} refused the WebSocket: {exc}",
                {"port": port},
            ) from exc


async def _relay(receive: Receive, send: Send, upstream: ClientConnection) -> None:
    """Pass messages both ways until either side closes; then close the other."""

    async def from_client() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(int(message.get("code") or 1000))
                return
            if message.get("bytes") is not None:
                await upstream.send(message["bytes"])
            elif message.get("text") is not None:
                await upstream.send(message["text"])

    async def from_upstream() -> None:
        try:
            async for data in upstream:
                key = "bytes" if isinstance(data, bytes) else "text"
                await send({"type": "websocket.send", key: data})
        except websockets.ConnectionClosed:
            pass  # closed abnormally: the client gets the close below all the same
        code = upstream.close_code or 1000
        with contextlib.suppress(OSError, RuntimeError):  # the client may be gone already
            await send({"type": "websocket.close", "code": 1000 if code in (1005, 1006) else code})

    tasks = [asyncio.create_task(from_client()), asyncio.create_task(from_upstream())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.warning("WebSocket relay ended: %r", task.exception())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- the request's parts ------------------------------------------------------------


def _target_of(scope: Scope) -> tuple[str, int]:
    params = scope["path_params"]
    return str(params["sandbox_id"]), int(params["port"])


def _upstream_path(scope: Scope) -> str:
    """The path and query for the server: what follows the port, as sent (still
    percent-encoded), without Bay's token."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    after_port = raw.split(b"/", 5)[5].partition(b"/")[2] if raw.count(b"/") >= 6 else b""
    query = "&".join(
        part for part in query_parts(scope) if part.partition("=")[0] != TOKEN_PARAMETER
    )
    return "/" + after_port.decode("latin-1") + ("?" + query if query else "")


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    with contextlib.suppress(CookieError):
        jar.load(headers.get("cookie", ""))
    return {name: morsel.value for name, morsel in jar.items()}


def _without_our_cookie(header: str) -> str:
    parts = [part.strip() for part in header.split(";")]
    return "; ".join(part for part in parts if part and part.partition("=")[0] != COOKIE)


def _cookie(caller: _Caller, prefix: str, scope: Scope) -> str:
    assert caller.expires_at is not None
    seconds = max(0, int((caller.expires_at - datetime.now(UTC)).total_seconds()))
    secure = "; Secure" if scope.get("scheme") in ("https", "wss") else ""
    return (
        f"{COOKIE}={caller.new_token}; Path={prefix}/; Max-Age={seconds}; HttpOnly; "
        f"SameSite=Lax{secure}"
    )


def _relocated(location: str, prefix: str, port: int) -> str:
    """A redirect the server sent for itself, pointed back through the proxy."""
    for own in (f"http://localhost:{port}", f"http://127.0.0.1:{port}"):
        if location.startswith(own + "/") or location == own:
            location = location[len(own) :] or "/"
    if location.startswith("/") and not location.startswith("//"):
        return prefix + location
    return location


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
