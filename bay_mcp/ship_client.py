"""Bay's client for Ship's HTTP API. Maps transport failures and Ship's errors to Bay's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bay_mcp.errors import (
    BayError,
    FileNotFound,
    InvalidPath,
    QuotaExceeded,
    SessionNotReady,
    ShipError,
    Timeout,
    ValidationFailed,
)

log = logging.getLogger(__name__)

# Ship answers a timed-out exec within its timeout + ~2 s; this is the slack on top.
_EXEC_SLACK_S = 15.0
_CALL_TIMEOUT_S = 30.0
# Transfers stream: no limit on the whole, but none between two chunks may take longer.
_TRANSFER_TIMEOUT = httpx.Timeout(_CALL_TIMEOUT_S, read=300.0, write=300.0)

_SHIP_CODES: dict[str, type[BayError]] = {
    "invalid_path": InvalidPath,
    "file_not_found": FileNotFound,
    "validation_error": ValidationFailed,
    "quota_exceeded": QuotaExceeded,
}


@dataclass(frozen=True)
class ShipEndpoint:
    url: str
    token: str


@dataclass(frozen=True)
class Download:
    size: int | None
    chunks: AsyncIterator[bytes]


def _error_from(response: httpx.Response) -> BayError:
    try:
        error = response.json()["error"]
        code, message, details = error["code"], error["message"], error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        return ShipError(f"the runtime answered HTTP {response.status_code} with no error body")
    error_type = _SHIP_CODES.get(code)
    if error_type is not None:
        return error_type(str(message), details)
    return ShipError(f"the runtime failed: {message}", {"ship_code": code})


class ShipClient:
    """One pooled httpx client for all sessions; each call names its endpoint."""

    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(timeout=_CALL_TIMEOUT_S)

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        endpoint: ShipEndpoint,
        method: str,
        path: str,
        *,
        timeout: float | httpx.Timeout = _CALL_TIMEOUT_S,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {**(headers or {}), "Authorization": f"Bearer {endpoint.token}"}
        try:
            response = await self._http.request(
                method, endpoint.url + path, headers=headers, timeout=timeout, **kwargs
            )
        except httpx.TimeoutException as exc:
            limit = timeout if isinstance(timeout, float | int) else timeout.read
            raise Timeout(f"the runtime did not answer {path} within {limit:g} s") from exc
        except httpx.TransportError as exc:
            raise SessionNotReady(
                f"the runtime is not reachable ({type(exc).__name__}); retry shortly",
                {"retry_after_ms": 1000},
            ) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    async def _json(
        self, endpoint: ShipEndpoint, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any]:
        response = await self._request(endpoint, method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as exc:
            raise ShipError(f"the runtime answered {path} with something that is not JSON") from exc
        if not isinstance(body, dict):
            raise ShipError(f"the runtime answered {path} with an unexpected shape")
        return body

    async def healthy(self, endpoint: ShipEndpoint) -> bool:
        """True when Ship answers /health; False while it is not up yet."""
        try:
            response = await self._http.get(endpoint.url + "/health", timeout=2.0)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def meta(self, endpoint: ShipEndpoint) -> dict[str, Any]:
        return await self._json(endpoint, "GET", "/meta")

    async def python_exec(
        self, endpoint: ShipEndpoint, code: str, timeout: float
    ) -> dict[str, Any]:
        return await self._json(
            endpoint,
            "POST",
            "/python/exec",
            json={"code": code, "timeout": timeout},
            timeout=timeout + _EXEC_SLACK_S,
        )

    async def python_interrupt(self, endpoint: ShipEndpoint) -> bool:
        body = await self._json(endpoint, "POST", "/python/interrupt", timeout=10.0)
        return bool(body.get("interrupted"))

    async def shell_exec(
        self, endpoint: ShipEndpoint, command: str, timeout: float, cwd: str, exec_id: str
    ) -> dict[str, Any]:
        return await self._json(
            endpoint,
            "POST",
            "/shell/exec",
            json={"command": command, "timeout": timeout, "cwd": cwd, "exec_id": exec_id},
            timeout=timeout + _EXEC_SLACK_S,
        )

    async def shell_cancel(self, endpoint: ShipEndpoint, exec_id: str) -> bool:
        body = await self._json(
            endpoint, "POST", "/shell/cancel", json={"exec_id": exec_id}, timeout=10.0
        )
        return bool(body.get("cancelled"))

    async def read_file(
        self, endpoint: ShipEndpoint, path: str, offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"path": path, "offset": offset}
        if limit is not None:
            params["limit"] = limit
        return await self._json(endpoint, "GET", "/filesystem/files", params=params)

    async def write_file(self, endpoint: ShipEndpoint, path: str, content: str) -> dict[str, Any]:
        return await self._json(
            endpoint, "PUT", "/filesystem/files", json={"path": path, "content": content}
        )

    async def delete_file(self, endpoint: ShipEndpoint, path: str) -> dict[str, Any]:
        return await self._json(endpoint, "DELETE", "/filesystem/files", params={"path": path})

    async def list_directory(self, endpoint: ShipEndpoint, path: str) -> dict[str, Any]:
        return await self._json(endpoint, "GET", "/filesystem/directories", params={"path": path})

    async def upload(
        self,
        endpoint: ShipEndpoint,
        path: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None = None,
    ) -> dict[str, Any]:
        """Stream bytes to `path`; Ship renames them into place only when all arrived."""
        params: dict[str, Any] = {"path": path}
        if declared_size is not None:
            params["size"] = declared_size
        return await self._json(
            endpoint,
            "POST",
            "/filesystem/upload",
            params=params,
            content=chunks,
            headers={"Content-Type": "application/octet-stream"},
            timeout=_TRANSFER_TIMEOUT,
        )

    async def move(self, endpoint: ShipEndpoint, source: str, destination: str) -> dict[str, Any]:
        return await self._json(
            endpoint,
            "POST",
            "/filesystem/move",
            json={"source": source, "destination": destination},
        )

    @asynccontextmanager
    async def download(self, endpoint: ShipEndpoint, path: str) -> AsyncIterator[Download]:
        """A file's size and its bytes as a stream; errors (404 included) are raised
        before the first byte."""
        headers = {"Authorization": f"Bearer {endpoint.token}"}
        request = self._http.build_request(
            "GET",
            endpoint.url + "/filesystem/download",
            params={"path": path},
            headers=headers,
            timeout=_TRANSFER_TIMEOUT,
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise SessionNotReady(f"the runtime is not reachable ({type(exc).__name__})") from exc
        try:
            if response.status_code >= 400:
                await response.aread()
                raise _error_from(response)
            length = response.headers.get("content-length", "")
            yield Download(
                size=int(length) if length.isdigit() else None,
                chunks=response.aiter_bytes(),
            )
        finally:
            await response.aclose()
