"""Bay's client for Ship's HTTP API: one generic call over the routes of Ship's protocol.

Requests and answers are the models of Ship's protocol (`ship/protocol.py`), and every
path comes from its route table; transport failures and Ship's error codes become Bay's
errors here, once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from bay_mcp.adapters.ship_errors import (
    NeverReached,
    error_from,
    parse,
    refused,
    unreachable,
)
from bay_mcp.errors import (
    ShipError,
    Timeout,
)
from ship import protocol

log = logging.getLogger(__name__)

# Ship answers a timed-out exec within its timeout + ~2 s; this is the slack on top. A
# call never waits longer than its own timeout + EXEC_GRACE_S in all (docs/lifecycle.md):
# this slack, an interrupt of the run that did not answer, and a check of /health.
_EXEC_SLACK_S = 5.0
_INTERRUPT_TIMEOUT_S = 3.0
HEALTH_CHECK_S = 1.0
EXEC_GRACE_S = _EXEC_SLACK_S + _INTERRUPT_TIMEOUT_S + HEALTH_CHECK_S + 1.0
_CALL_TIMEOUT_S = 30.0
# Transfers stream: no limit on the whole, but none between two chunks may take longer.
_TRANSFER_TIMEOUT = httpx.Timeout(_CALL_TIMEOUT_S, read=300.0, write=300.0)

Answer = TypeVar("Answer", bound=protocol.Model)
Body = TypeVar("Body")


@dataclass(frozen=True)
class ShipEndpoint:
    url: str
    token: str
    # The session this endpoint belongs to (what history entries name).
    session_id: str | None = None
    # Taken from the database without asking Docker: when a request provably never
    # reached this Ship (no connection, or another Ship's 401), `recover` checks the
    # container, starts a new one if it is gone, and the request is sent once more.
    recover: Callable[[], Awaitable[ShipEndpoint]] | None = field(
        default=None, compare=False, repr=False
    )
    # What the caller should be told of this session: it replaced one that stopped
    # answering (the memory lost, the files kept).
    notice: str | None = None


Sent = TypeVar("Sent")
# Told each piece of a run's output as Ship streams it.
OutputSink = Callable[[str], None]


async def reaching(endpoint: ShipEndpoint, send: Callable[[ShipEndpoint], Awaitable[Sent]]) -> Sent:
    """`send` to the endpoint; if it never got there, recover the session and send
    once more (the only retry: anything that may have reached Ship is not repeated)."""
    try:
        return await send(endpoint)
    except NeverReached as exc:
        if endpoint.recover is None:
            raise exc.error from exc
        recovered = await endpoint.recover()
    try:
        return await send(recovered)
    except NeverReached as exc:
        raise exc.error from exc


@dataclass(frozen=True)
class Download:
    size: int | None
    chunks: AsyncIterator[bytes]


class ShipClient:
    """One pooled httpx client for all sessions; each call names its endpoint. Every
    call goes through `_call` (or its streamed variants) with a route of Ship's table."""

    def __init__(self, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(timeout=_CALL_TIMEOUT_S)

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        route: protocol.ShipRoute[Body, Answer],
        endpoint: ShipEndpoint,
        request: Body | None = None,
        *,
        timeout: float | httpx.Timeout = _CALL_TIMEOUT_S,
        path_params: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Answer:
        """Send `request` (the route's body model) to `route` (its path's parameters from
        `path_params`), and parse the answer into the route's answer model; Ship's errors
        become Bay's."""
        if isinstance(request, protocol.Model):
            kwargs["json"] = request.wire()
        response = await reaching(
            endpoint,
            lambda to: self._open(to, route, timeout=timeout, path_params=path_params, **kwargs),
        )
        if response.status_code >= 400:
            raise error_from(response.status_code, response.content)
        return parse(route.answer, response.content, f"{route.method} {route.path}")

    async def _open(
        self,
        endpoint: ShipEndpoint,
        route: protocol.ShipRoute[Any, Any],
        *,
        timeout: float | httpx.Timeout,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        path_params: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; transport failures become Bay's errors, and a request that
        never reached the session's Ship raises NeverReached."""
        path = route.target(**(path_params or {}))
        request = self._http.build_request(
            route.method,
            endpoint.url + path,
            headers={**(headers or {}), "Authorization": f"Bearer {endpoint.token}"},
            timeout=timeout,
            **kwargs,
        )
        # httpx's timeouts bound each read and write, not the whole: a runtime that takes
        # the bytes but never answers (a frozen container) is bounded here.
        limit = timeout if isinstance(timeout, float | int) else None
        try:
            async with asyncio.timeout(limit):
                response = await self._http.send(request, stream=stream)
        except TimeoutError as exc:
            raise Timeout(f"the runtime did not answer {path} within {limit:g} s") from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # No connection, so no byte of the request was sent (a streamed body included).
            raise NeverReached(unreachable(type(exc).__name__)) from exc
        except httpx.TimeoutException as exc:
            limit = timeout if isinstance(timeout, float | int) else timeout.read
            raise Timeout(f"the runtime did not answer {path} within {limit:g} s") from exc
        except httpx.TransportError as exc:
            raise unreachable(type(exc).__name__) from exc
        if response.status_code == 401:
            # Ship checks the token before anything else: this is not our session's Ship
            # (its container is gone and another took its address), or it is restarting.
            await response.aclose()
            raise NeverReached(refused())
        return response

    async def healthy(self, endpoint: ShipEndpoint) -> bool:
        """True when Ship answers /health and its kernel has booted (or failed to: the
        first exec says why); False while either is still starting."""
        route = protocol.HEALTH
        try:
            response = await self._http.request(
                route.method, endpoint.url + route.path, timeout=2.0
            )
        except httpx.TransportError:
            return False
        if response.status_code != 200:
            return False
        try:
            health = route.answer.model_validate_json(response.content)
        except ValidationError:
            return False
        return health.kernel != "starting"

    async def answers(self, endpoint: ShipEndpoint, within: float = HEALTH_CHECK_S) -> bool:
        """Whether Ship answers /health at all within `within` seconds."""
        route = protocol.HEALTH
        try:
            async with asyncio.timeout(within):
                response = await self._http.request(
                    route.method, endpoint.url + route.path, timeout=within
                )
        except (TimeoutError, httpx.TransportError):
            return False
        return response.status_code == 200

    async def meta(self, endpoint: ShipEndpoint) -> protocol.Meta:
        return await self._call(protocol.META, endpoint)

    async def pool_heartbeat(self, endpoint: ShipEndpoint, *, claimed: bool) -> protocol.PoolWatch:
        request = protocol.PoolHeartbeat(claimed=claimed)
        return await self._call(protocol.POOL_HEARTBEAT, endpoint, request)

    async def python_exec(
        self,
        endpoint: ShipEndpoint,
        code: str,
        timeout: float,
        on_output: OutputSink | None = None,
    ) -> protocol.PythonExecResult:
        route = protocol.PYTHON_EXEC
        request = protocol.PythonExecRequest(code=code, timeout=timeout)
        if on_output is not None:
            return await self._streamed(route, endpoint, request, timeout, on_output)
        return await self._call(route, endpoint, request, timeout=timeout + _EXEC_SLACK_S)

    async def code_exec(
        self,
        endpoint: ShipEndpoint,
        language: protocol.Language,
        code: str,
        timeout: float,
        on_output: OutputSink | None = None,
    ) -> protocol.PythonExecResult:
        """Code in `language`'s kernel (started by its first run); CapabilityNotSupported
        when the image has none."""
        route = protocol.CODE_EXEC
        request = protocol.CodeExecRequest(language=language, code=code, timeout=timeout)
        if on_output is not None:
            return await self._streamed(route, endpoint, request, timeout, on_output)
        return await self._call(route, endpoint, request, timeout=timeout + _EXEC_SLACK_S)

    async def code_interrupt(self, endpoint: ShipEndpoint, language: protocol.Language) -> bool:
        request = protocol.CodeInterruptRequest(language=language)
        answer = await self._call(
            protocol.CODE_INTERRUPT, endpoint, request, timeout=_INTERRUPT_TIMEOUT_S
        )
        return answer.interrupted

    async def browser(
        self, endpoint: ShipEndpoint, request: protocol.BrowserRequest
    ) -> protocol.BrowserResult:
        return await self._call(
            protocol.BROWSER_EXEC, endpoint, request, timeout=request.timeout + _EXEC_SLACK_S
        )

    async def python_interrupt(self, endpoint: ShipEndpoint) -> bool:
        answer = await self._call(protocol.PYTHON_INTERRUPT, endpoint, timeout=_INTERRUPT_TIMEOUT_S)
        return answer.interrupted

    async def shell_exec(
        self,
        endpoint: ShipEndpoint,
        command: str,
        timeout: float,
        cwd: str,
        exec_id: str,
        on_output: OutputSink | None = None,
    ) -> protocol.ShellExecResult:
        route = protocol.SHELL_EXEC
        request = protocol.ShellExecRequest(
            command=command, timeout=timeout, cwd=cwd, exec_id=exec_id
        )
        if on_output is not None:
            return await self._streamed(route, endpoint, request, timeout, on_output)
        return await self._call(route, endpoint, request, timeout=timeout + _EXEC_SLACK_S)

    async def _streamed(
        self,
        route: protocol.ShipRoute[Body, Answer],
        endpoint: ShipEndpoint,
        request: Body,
        timeout: float,
        on_output: OutputSink,
    ) -> Answer:
        """An exec whose output is told to `on_output` as Ship sends it (NDJSON lines:
        output events, then the result or the error that ended the run)."""
        assert route.streaming, f"{route.path} does not stream"
        assert isinstance(request, protocol.Model)
        path = route.path
        response = await reaching(
            endpoint,
            lambda to: self._open(
                to,
                route,
                timeout=timeout + _EXEC_SLACK_S,
                stream=True,
                headers={"Accept": protocol.NDJSON},
                json=request.wire(),
            ),
        )
        try:
            async with asyncio.timeout(timeout + _EXEC_SLACK_S):
                if response.status_code >= 400:
                    raise error_from(response.status_code, await response.aread())
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    kind = json.loads(line).get("kind")
                    if kind == "output":
                        on_output(parse(protocol.OutputEvent, line.encode(), path).text)
                    elif kind == "error":
                        info = parse(protocol.ErrorEvent, line.encode(), path).error
                        body = protocol.ErrorBody(error=info).model_dump_json().encode()
                        raise error_from(500, body)
                    else:
                        return parse(route.answer, line.encode(), f"{route.method} {path}")
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise Timeout(f"the runtime did not answer {path} within {timeout:g} s") from exc
        except httpx.TransportError as exc:
            raise unreachable(type(exc).__name__) from exc
        finally:
            await response.aclose()
        raise ShipError(f"the runtime's stream for {path} ended without a result")

    async def shell_cancel(self, endpoint: ShipEndpoint, exec_id: str) -> bool:
        answer = await self._call(
            protocol.SHELL_CANCEL,
            endpoint,
            protocol.ShellCancelRequest(exec_id=exec_id),
            timeout=_INTERRUPT_TIMEOUT_S,
        )
        return answer.cancelled

    async def read_file(
        self, endpoint: ShipEndpoint, path: str, offset: int = 0, limit: int | None = None
    ) -> protocol.FileText:
        params: dict[str, Any] = {"path": path, "offset": offset}
        if limit is not None:
            params["limit"] = limit
        return await self._call(protocol.READ_FILE, endpoint, params=params)

    async def write_file(
        self, endpoint: ShipEndpoint, path: str, content: str
    ) -> protocol.FileWritten:
        return await self._call(
            protocol.WRITE_FILE, endpoint, protocol.WriteFileRequest(path=path, content=content)
        )

    async def delete_file(self, endpoint: ShipEndpoint, path: str) -> protocol.FileDeleted:
        return await self._call(protocol.DELETE_FILE, endpoint, params={"path": path})

    async def list_directory(self, endpoint: ShipEndpoint, path: str) -> protocol.DirectoryListing:
        return await self._call(protocol.LIST_DIRECTORY, endpoint, params={"path": path})

    async def upload(
        self,
        endpoint: ShipEndpoint,
        path: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None = None,
    ) -> protocol.FileWritten:
        """Stream bytes to `path`; Ship renames them into place only when all arrived."""
        params: dict[str, Any] = {"path": path}
        if declared_size is not None:
            params["size"] = declared_size
        return await self._call(
            protocol.UPLOAD,
            endpoint,
            params=params,
            content=chunks,
            headers={"Content-Type": "application/octet-stream"},
            timeout=_TRANSFER_TIMEOUT,
        )

    async def move(
        self, endpoint: ShipEndpoint, source: str, destination: str
    ) -> protocol.FileWritten:
        return await self._call(
            protocol.MOVE,
            endpoint,
            protocol.MoveRequest(source=source, destination=destination),
        )

    # -- processes and terminals ---------------------------------------------------------

    async def _on_process(
        self,
        route: protocol.ShipRoute[Body, Answer],
        endpoint: ShipEndpoint,
        process_id: str,
        request: Body | None = None,
        timeout: float = _CALL_TIMEOUT_S,
    ) -> Answer:
        """A call about one process; NotFound (ship_code process_not_found) if unknown."""
        params = {"process_id": process_id}
        return await self._call(route, endpoint, request, timeout=timeout, path_params=params)

    async def process_start(
        self, endpoint: ShipEndpoint, request: protocol.ProcessStartRequest
    ) -> protocol.ProcessInfo:
        """Start a background process; its info at once. QuotaExceeded at the running-
        process limit (details.limit says which), ResourceExhausted at the pids limit."""
        return await self._call(protocol.PROCESS_START, endpoint, request)

    async def process_list(self, endpoint: ShipEndpoint) -> protocol.ProcessList:
        return await self._call(protocol.PROCESS_LIST, endpoint)

    async def process_get(self, endpoint: ShipEndpoint, process_id: str) -> protocol.ProcessInfo:
        return await self._on_process(protocol.PROCESS_GET, endpoint, process_id)

    async def process_output(
        self,
        endpoint: ShipEndpoint,
        process_id: str,
        since: int | None = None,
        wait_seconds: float = 0.0,
        max_bytes: int = protocol.DEFAULT_OUTPUT_CHUNK_BYTES,
    ) -> protocol.ProcessOutput:
        """Output from byte offset `since` (None: the oldest kept), waiting up to
        `wait_seconds` for some or for the end when there is none yet."""
        request = protocol.ProcessOutputRequest(
            since=since, wait_seconds=wait_seconds, max_bytes=max_bytes
        )
        route, timeout = protocol.PROCESS_OUTPUT, wait_seconds + _CALL_TIMEOUT_S
        return await self._on_process(route, endpoint, process_id, request, timeout)

    async def process_input(
        self, endpoint: ShipEndpoint, process_id: str, request: protocol.ProcessInputRequest
    ) -> protocol.ProcessInputResult:
        """Text, then named keys, then maybe end of input; ValidationFailed when the
        process has ended or does not read its input."""
        return await self._on_process(protocol.PROCESS_INPUT, endpoint, process_id, request)

    async def process_signal(
        self, endpoint: ShipEndpoint, process_id: str, signal: protocol.SignalName
    ) -> protocol.ProcessSignalResult:
        request = protocol.ProcessSignalRequest(signal=signal)
        return await self._on_process(protocol.PROCESS_SIGNAL, endpoint, process_id, request)

    async def process_wait(
        self, endpoint: ShipEndpoint, process_id: str, timeout: float
    ) -> protocol.ProcessInfo:
        """The process's info once it ended, or when `timeout` passed (still running)."""
        request = protocol.ProcessWaitRequest(timeout=timeout)
        route, limit = protocol.PROCESS_WAIT, timeout + _CALL_TIMEOUT_S
        return await self._on_process(route, endpoint, process_id, request, limit)

    async def terminal_resize(
        self, endpoint: ShipEndpoint, process_id: str, rows: int, cols: int
    ) -> protocol.ProcessInfo:
        request = protocol.TerminalResize(rows=rows, cols=cols)
        return await self._on_process(protocol.TERMINAL_RESIZE, endpoint, process_id, request)

    async def terminal_screen(
        self, endpoint: ShipEndpoint, process_id: str
    ) -> protocol.TerminalScreen:
        """A pty process's screen as text; ValidationFailed for a process without one."""
        return await self._on_process(protocol.TERMINAL_SCREEN, endpoint, process_id)

    @asynccontextmanager
    async def download(self, endpoint: ShipEndpoint, path: str) -> AsyncIterator[Download]:
        """A file's size and its bytes as a stream; errors (404 included) are raised
        before the first byte."""
        response = await reaching(
            endpoint,
            lambda to: self._open(
                to,
                protocol.DOWNLOAD,
                timeout=_TRANSFER_TIMEOUT,
                stream=True,
                params={"path": path},
            ),
        )
        try:
            if response.status_code >= 400:
                raise error_from(response.status_code, await response.aread())
            length = response.headers.get("content-length", "")
            yield Download(
                size=int(length) if length.isdigit() else None,
                chunks=response.aiter_bytes(),
            )
        finally:
            await response.aclose()
