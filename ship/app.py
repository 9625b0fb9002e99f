"""Ship's HTTP API: a Starlette app over the kernel, the shell and the filesystem.

Every endpoint but `/health` requires `Authorization: Bearer <SHIP_TOKEN>`.
Errors have one shape: `{"error": {"code", "message", "details"}}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ship import (
    API_VERSION,
    RUNTIME_NAME,
    __version__,
    changes,
    filesystem,
    paths,
    protocol,
)
from ship.browser import Browser, browser_available
from ship.errors import (
    CapabilityMissing,
    NotFound,
    ResourceExhausted,
    ShipError,
    Unauthorized,
    ValidationFailed,
)
from ship.kernel import PythonKernel
from ship.output import OutputListener
from ship.protocol import CapabilityInfo
from ship.quota import WorkspaceQuota
from ship.resources import Cgroup
from ship.settings import ShipSettings
from ship.shell import run_command

log = logging.getLogger(__name__)

# Upload bytes are gathered to this size before each disk write (in a worker thread).
UPLOAD_BATCH_BYTES = 1024 * 1024
BASE_CAPABILITIES: dict[str, CapabilityInfo] = {
    "python": CapabilityInfo(operations=["exec", "interrupt"]),
    "shell": CapabilityInfo(operations=["exec", "cancel"]),
    "filesystem": CapabilityInfo(
        operations=["read", "write", "list", "delete", "move", "upload", "download"]
    ),
}
BROWSER_CAPABILITY = CapabilityInfo(operations=["exec"])


def capabilities(with_browser: bool) -> dict[str, CapabilityInfo]:
    """What this Ship offers: the browser only where the image carries it."""
    if not with_browser:
        return dict(BASE_CAPABILITIES)
    return {**BASE_CAPABILITIES, "browser": BROWSER_CAPABILITY}


Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Run `work`, cancelling it if the client goes away first.

    Bay cancels a call by closing its request: a cancelled shell command must be
    killed (run_command does that when cancelled), not left running to its timeout.
    """
    task = asyncio.ensure_future(work)

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.info("client went away: the running call was cancelled")
            raise ShipError("the caller went away; the call was cancelled")
    return task.result()


def _out_of_processes(exc: BaseException) -> bool:
    """fork/clone/thread creation refused: EAGAIN, or Python's "can't start new thread"."""
    if isinstance(exc, BlockingIOError):
        return True
    return isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)


def reply(model: protocol.Model) -> JSONResponse:
    return JSONResponse(model.wire())


def error_response(error: ShipError) -> JSONResponse:
    body = protocol.ErrorBody(
        error=protocol.ErrorInfo(code=error.code, message=error.message, details=error.details)
    )
    return JSONResponse(body.wire(), status_code=error.status)


class BearerTokenMiddleware:
    """Refuse every request but `GET /health` that lacks the session's token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/health":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                response = error_response(
                    Unauthorized("missing or wrong bearer token: only Bay may call Ship")
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


Result = TypeVar("Result", protocol.PythonExecResult, protocol.ShellExecResult)


def _wants_stream(request: Request) -> bool:
    return protocol.NDJSON in request.headers.get("accept", "")


def streamed(run: Callable[[OutputListener], Awaitable[Result]]) -> StreamingResponse:
    """The run's output as it comes, then its result, a JSON line each. The run is
    cancelled (its code interrupted, its command killed) if the caller goes away."""
    pending: asyncio.Queue[str | None] = asyncio.Queue()
    task = asyncio.ensure_future(run(pending.put_nowait))
    task.add_done_callback(lambda _: pending.put_nowait(None))

    async def lines() -> AsyncIterator[bytes]:
        try:
            ended = False
            while not ended:
                parts: list[str] = []
                text = await pending.get()
                while True:  # what has gathered meanwhile goes in the same line
                    if text is None:
                        ended = True
                        break
                    parts.append(text)
                    if pending.empty():
                        break
                    text = pending.get_nowait()
                if parts:
                    yield _line(protocol.OutputEvent(text="".join(parts)))
            yield _line(_final(task))
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    return StreamingResponse(lines(), media_type=protocol.NDJSON)


def _final(task: asyncio.Future[Result]) -> protocol.Model:
    error = task.exception()
    if error is None:
        return task.result()
    if not isinstance(error, ShipError):
        log.error("a streamed run failed", exc_info=error)
        error = ShipError("internal error in Ship; see the container's log")
    return protocol.ErrorEvent(
        error=protocol.ErrorInfo(code=error.code, message=error.message, details=error.details)
    )


def _line(event: protocol.Model) -> bytes:
    return json.dumps(event.wire()).encode() + b"\n"


def _workspace_watch(workspace: Path) -> changes.WorkspaceWatch | None:
    try:
        return changes.WorkspaceWatch(workspace)
    except OSError as exc:  # no inotify (not Linux, or no instance left): no lists
        log.warning("files changed per run are not reported: %s", exc)
        return None


def user_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment user code sees: the container's, without Ship's own settings."""
    return {key: value for key, value in env.items() if not key.startswith("SHIP_")}


async def parse_body(request: Request, model: type[Model]) -> Model:
    try:
        payload = await request.json()
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"request body is not valid JSON: {exc.msg}") from exc
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
        raise ValidationFailed("request body does not validate", {"fields": fields}) from exc


def query_int(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationFailed(f"query parameter {name} must be an integer") from exc
    if value < 0:
        raise ValidationFailed(f"query parameter {name} must not be negative")
    return value


def create_app(settings: ShipSettings, env: Mapping[str, str] | None = None) -> Starlette:
    """Build the app; the kernel starts with the app's lifespan."""
    user_env = user_environment(os.environ if env is None else env)
    running_shells: dict[str, asyncio.Future[protocol.ShellExecResult]] = {}
    quota = WorkspaceQuota(settings.workspace, settings.workspace_limit_bytes)
    workspace = settings.workspace
    cgroup = Cgroup.detect()
    kernel = PythonKernel(
        python=settings.kernel_python,
        cwd=workspace,
        env=user_env,
        max_output_bytes=settings.max_output_bytes,
        cgroup=cgroup,
    )
    offered = capabilities(browser_available())
    watch = _workspace_watch(workspace)

    async def watched(run: Awaitable[Result]) -> Result:
        """`run`'s result with the files it created, changed or deleted."""
        if watch is None:
            return await run
        with watch.run() as seen:
            result = await run
        result.files_changed = changes.report(seen, workspace)
        return result

    browser = Browser(workspace, settings.browser_idle_seconds)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Start the kernel in the background: /health answers at once, and the first
        # exec waits for the kernel (under the kernel's lock) instead of failing.
        starting = asyncio.create_task(kernel.start())
        try:
            yield
        finally:
            if not starting.done():
                starting.cancel()
            elif starting.exception() is not None:
                log.error("the kernel failed to start: %s", starting.exception())
            await kernel.shutdown()
            await browser.close()
            if watch is not None:
                watch.close()

    async def health(request: Request) -> Response:
        return reply(protocol.Health(version=__version__, kernel=kernel.state))

    async def meta(request: Request) -> Response:
        return reply(
            protocol.Meta(
                runtime=protocol.RuntimeInfo(name=RUNTIME_NAME, version=__version__),
                api_version=API_VERSION,
                workspace=protocol.WorkspaceInfo(mount_path=protocol.WORKSPACE_MOUNT),
                capabilities=offered,
            )
        )

    async def python_exec(request: Request) -> Response:
        body = await parse_body(request, protocol.PythonExecRequest)

        def run(listener: OutputListener | None) -> Awaitable[protocol.PythonExecResult]:
            return watched(kernel.execute(body.code, body.timeout, listener))

        if _wants_stream(request):
            return streamed(run)
        return reply(await run(None))

    async def python_interrupt(request: Request) -> Response:
        return reply(protocol.InterruptResult(interrupted=await kernel.interrupt()))

    async def shell_exec(request: Request) -> Response:
        body = await parse_body(request, protocol.ShellExecRequest)
        cwd = paths.resolve(workspace, body.cwd, allow_root=True)
        if not cwd.real.is_dir():
            raise ValidationFailed(f"cwd {cwd.relative} is not a directory in /workspace")

        def command(listener: OutputListener | None) -> Awaitable[protocol.ShellExecResult]:
            return run_command(
                body.command,
                cwd=cwd.real,
                timeout=body.timeout,
                env=user_env,
                max_output_bytes=settings.max_output_bytes,
                cgroup=cgroup,
                listener=listener,
            )

        if _wants_stream(request):
            # A stream that stops being read is cancelled with its run (kill included).
            return streamed(lambda listener: watched(command(listener)))
        run = asyncio.ensure_future(command(None))
        if body.exec_id is not None:
            running_shells[body.exec_id] = run
        try:
            result = await watched(until_disconnect(request, run))
        except asyncio.CancelledError as exc:
            raise ShipError("the command was cancelled by the caller") from exc
        finally:
            if body.exec_id is not None:
                running_shells.pop(body.exec_id, None)
        return reply(result)

    async def shell_cancel(request: Request) -> Response:
        body = await parse_body(request, protocol.ShellCancelRequest)
        run = running_shells.get(body.exec_id)
        if run is None or run.done():
            return reply(protocol.CancelResult(cancelled=False))
        run.cancel()  # run_command kills the command and all it started
        with contextlib.suppress(asyncio.CancelledError):
            await run
        return reply(protocol.CancelResult(cancelled=True))

    async def browser_exec(request: Request) -> Response:
        if "browser" not in offered:
            raise CapabilityMissing(
                "this sandbox's image has no browser: use a profile with the browser "
                "image (browser-python)"
            )
        body = await parse_body(request, protocol.BrowserRequest)
        try:
            return reply(await until_disconnect(request, browser.run(body)))
        except asyncio.CancelledError as exc:
            raise ShipError("the browser call was cancelled by the caller") from exc

    async def files(request: Request) -> Response:
        if request.method == "PUT":
            body = await parse_body(request, protocol.WriteFileRequest)
            return reply(
                await asyncio.to_thread(
                    filesystem.write_text, workspace, body.path, body.content, quota
                )
            )
        raw_path = request.query_params.get("path")
        if request.method == "DELETE":
            return reply(await asyncio.to_thread(filesystem.delete, workspace, raw_path))
        offset = query_int(request, "offset", 0) or 0
        limit = query_int(request, "limit", None)
        content = await asyncio.to_thread(
            filesystem.read_text,
            workspace,
            raw_path,
            offset=offset,
            limit=limit,
            max_bytes=settings.max_read_bytes,
        )
        return reply(content)

    async def directories(request: Request) -> Response:
        raw_path = request.query_params.get("path", ".")
        return reply(await asyncio.to_thread(filesystem.list_directory, workspace, raw_path))

    async def upload(request: Request) -> Response:
        """The request body, streamed to disk (`path` in the query); nothing is left
        behind when it is refused or the caller goes away."""
        declared = query_int(request, "size", None)
        staged = await asyncio.to_thread(
            filesystem.StagedFile, workspace, request.query_params.get("path"), quota, declared
        )
        try:
            batch = bytearray()
            async for chunk in request.stream():
                batch += chunk
                if len(batch) >= UPLOAD_BATCH_BYTES:
                    full, batch = batch, bytearray()
                    await asyncio.to_thread(staged.write, full)
            if batch:
                await asyncio.to_thread(staged.write, batch)
            stored = await asyncio.to_thread(staged.commit)
        except ClientDisconnect as exc:
            staged.abort()
            log.info("upload of %s abandoned by the caller; nothing kept", staged.path.relative)
            raise ValidationFailed("the upload ended early; nothing was kept") from exc
        except BaseException:
            staged.abort()
            raise
        return reply(stored)

    async def move(request: Request) -> Response:
        body = await parse_body(request, protocol.MoveRequest)
        return reply(
            await asyncio.to_thread(filesystem.move, workspace, body.source, body.destination)
        )

    async def download(request: Request) -> Response:
        raw_path = request.query_params.get("path")
        real, name = await asyncio.to_thread(filesystem.file_for_download, workspace, raw_path)
        return FileResponse(
            real,
            media_type="application/octet-stream",
            filename=name,
            content_disposition_type="attachment",
        )

    async def on_ship_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ShipError)
        return error_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_response(NotFound(f"no such endpoint: {request.url.path}"))
        error = ShipError(str(exc.detail))
        error.status = exc.status_code
        error.code = "method_not_allowed" if exc.status_code == 405 else "validation_error"
        return error_response(error)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        if _out_of_processes(exc):
            log.warning("out of processes on %s %s: %s", request.method, request.url.path, exc)
            return error_response(
                ResourceExhausted(
                    "the sandbox has no free processes or threads left (its pids limit): "
                    "something in it is forking without end. Kill it (pkill), or stop the "
                    "sandbox to start afresh; files are kept"
                )
            )
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(ShipError("internal error in Ship; see the container's log"))

    routes = [
        Route("/health", health),
        Route("/meta", meta),
        Route("/python/exec", python_exec, methods=["POST"]),
        Route("/python/interrupt", python_interrupt, methods=["POST"]),
        Route("/shell/exec", shell_exec, methods=["POST"]),
        Route("/shell/cancel", shell_cancel, methods=["POST"]),
        Route("/browser/exec", browser_exec, methods=["POST"]),
        Route("/filesystem/files", files, methods=["GET", "PUT", "DELETE"]),
        Route("/filesystem/directories", directories),
        Route("/filesystem/upload", upload, methods=["POST"]),
        Route("/filesystem/move", move, methods=["POST"]),
        Route("/filesystem/download", download),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ShipError: on_ship_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    app.add_middleware(BearerTokenMiddleware, token=settings.token)
    app.state.kernel = kernel
    return app
