"""Ship's endpoint handlers: one module-level function per route of the protocol's table.

Each is given the app's `Runtime` and the request; `HANDLERS` pairs them with their routes,
and each answers through its route, so the type checker holds it to the table's model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response

from ship import API_VERSION, RUNTIME_NAME, __version__, filesystem, paths, protocol
from ship.errors import CapabilityMissing, ShipError, ValidationFailed
from ship.output import OutputListener
from ship.runtime import Runtime
from ship.shell import run_command
from ship.streaming import streamed, until_disconnect, wants_stream
from ship.wire import parse_body, query_int, reply

log = logging.getLogger(__name__)

Handler = Callable[[Runtime, Request], Awaitable[Response]]

# Upload bytes are gathered to this size before each disk write (in a worker thread).
UPLOAD_BATCH_BYTES = 1024 * 1024


async def health(runtime: Runtime, request: Request) -> Response:
    return reply(protocol.HEALTH, protocol.Health(version=__version__, kernel=runtime.kernel_state))


async def meta(runtime: Runtime, request: Request) -> Response:
    return reply(
        protocol.META,
        protocol.Meta(
            runtime=protocol.RuntimeInfo(name=RUNTIME_NAME, version=__version__),
            api_version=API_VERSION,
            workspace=protocol.WorkspaceInfo(mount_path=protocol.WORKSPACE_MOUNT),
            capabilities=runtime.offered,
            languages=list(runtime.languages),
        ),
    )


async def pool_heartbeat(runtime: Runtime, request: Request) -> Response:
    """Bay is there (orphan_watch.py); a member without a watch just says so."""
    body = await parse_body(request, protocol.POOL_HEARTBEAT)
    watch = runtime.orphan_watch
    if watch is not None:
        watch.heard(claimed=body.claimed)
    watching = watch is not None and not watch.claimed
    return reply(
        protocol.POOL_HEARTBEAT,
        protocol.PoolWatch(
            watching=watching, after_seconds=watch.after_seconds if watching and watch else None
        ),
    )


# -- python and shell --------------------------------------------------------------------


async def python_exec(runtime: Runtime, request: Request) -> Response:
    route = protocol.PYTHON_EXEC
    body = await parse_body(request, route)

    def run(listener: OutputListener | None) -> Awaitable[protocol.PythonExecResult]:
        return runtime.watched(runtime.kernel.execute(body.code, body.timeout, listener))

    if wants_stream(route, request):
        return streamed(run)
    return reply(route, await run(None))


async def python_interrupt(runtime: Runtime, request: Request) -> Response:
    interrupted = await runtime.kernel.interrupt()
    return reply(protocol.PYTHON_INTERRUPT, protocol.InterruptResult(interrupted=interrupted))


async def code_exec(runtime: Runtime, request: Request) -> Response:
    """Code in any language this image has, in that language's kernel."""
    route = protocol.CODE_EXEC
    body = await parse_body(request, route)
    kernel = runtime.kernel_for(body.language)

    def run(listener: OutputListener | None) -> Awaitable[protocol.PythonExecResult]:
        return runtime.watched(kernel.execute(body.code, body.timeout, listener))

    if wants_stream(route, request):
        return streamed(run)
    return reply(route, await run(None))


async def code_interrupt(runtime: Runtime, request: Request) -> Response:
    body = await parse_body(request, protocol.CODE_INTERRUPT)
    interrupted = await runtime.kernel_for(body.language).interrupt()
    return reply(protocol.CODE_INTERRUPT, protocol.InterruptResult(interrupted=interrupted))


async def shell_exec(runtime: Runtime, request: Request) -> Response:
    route = protocol.SHELL_EXEC
    body = await parse_body(request, route)
    cwd = paths.resolve(runtime.workspace, body.cwd, allow_root=True)
    if not cwd.real.is_dir():
        raise ValidationFailed(f"cwd {cwd.relative} is not a directory in /workspace")

    def command(listener: OutputListener | None) -> Awaitable[protocol.ShellExecResult]:
        return run_command(
            body.command,
            cwd=cwd.real,
            timeout=body.timeout,
            env=runtime.user_env,
            max_output_bytes=runtime.settings.max_output_bytes,
            cgroup=runtime.cgroup,
            listener=listener,
        )

    if wants_stream(route, request):
        # A stream that stops being read is cancelled with its run (kill included).
        return streamed(lambda listener: runtime.watched(command(listener)))
    run = asyncio.ensure_future(command(None))
    if body.exec_id is not None:
        runtime.running_shells[body.exec_id] = run
    try:
        result = await runtime.watched(until_disconnect(request, run))
    except asyncio.CancelledError as exc:
        raise ShipError("the command was cancelled by the caller") from exc
    finally:
        if body.exec_id is not None:
            runtime.running_shells.pop(body.exec_id, None)
    return reply(route, result)


async def shell_cancel(runtime: Runtime, request: Request) -> Response:
    route = protocol.SHELL_CANCEL
    body = await parse_body(request, route)
    run = runtime.running_shells.get(body.exec_id)
    if run is None or run.done():
        return reply(route, protocol.CancelResult(cancelled=False))
    run.cancel()  # run_command kills the command and all it started
    with contextlib.suppress(asyncio.CancelledError):
        await run
    return reply(route, protocol.CancelResult(cancelled=True))


# -- browser -----------------------------------------------------------------------------


async def browser_exec(runtime: Runtime, request: Request) -> Response:
    route = protocol.BROWSER_EXEC
    if "browser" not in runtime.offered:
        raise CapabilityMissing(
            "this sandbox's image has no browser: use a profile with the browser "
            "image (browser-python)"
        )
    body = await parse_body(request, route)
    try:
        return reply(route, await until_disconnect(request, runtime.browser.run(body)))
    except asyncio.CancelledError as exc:
        raise ShipError("the browser call was cancelled by the caller") from exc


# -- filesystem --------------------------------------------------------------------------


async def read_file(runtime: Runtime, request: Request) -> Response:
    raw_path = request.query_params.get("path")
    offset = query_int(request, "offset", 0) or 0
    limit = query_int(request, "limit", None)
    content = await asyncio.to_thread(
        filesystem.read_text,
        runtime.workspace,
        raw_path,
        offset=offset,
        limit=limit,
        max_bytes=runtime.settings.max_read_bytes,
    )
    return reply(protocol.READ_FILE, content)


async def write_file(runtime: Runtime, request: Request) -> Response:
    route = protocol.WRITE_FILE
    body = await parse_body(request, route)
    written = await asyncio.to_thread(
        filesystem.write_text, runtime.workspace, body.path, body.content, runtime.quota
    )
    return reply(route, written)


async def delete_file(runtime: Runtime, request: Request) -> Response:
    raw_path = request.query_params.get("path")
    deleted = await asyncio.to_thread(filesystem.delete, runtime.workspace, raw_path)
    return reply(protocol.DELETE_FILE, deleted)


async def list_directory(runtime: Runtime, request: Request) -> Response:
    raw_path = request.query_params.get("path", ".")
    listing = await asyncio.to_thread(filesystem.list_directory, runtime.workspace, raw_path)
    return reply(protocol.LIST_DIRECTORY, listing)


async def upload(runtime: Runtime, request: Request) -> Response:
    """The request body, streamed to disk (`path` in the query); nothing is left
    behind when it is refused or the caller goes away."""
    declared = query_int(request, "size", None)
    staged = await asyncio.to_thread(
        filesystem.StagedFile,
        runtime.workspace,
        request.query_params.get("path"),
        runtime.quota,
        declared,
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
    return reply(protocol.UPLOAD, stored)


async def move(runtime: Runtime, request: Request) -> Response:
    route = protocol.MOVE
    body = await parse_body(request, route)
    moved = await asyncio.to_thread(
        filesystem.move, runtime.workspace, body.source, body.destination
    )
    return reply(route, moved)


async def download(runtime: Runtime, request: Request) -> Response:
    raw_path = request.query_params.get("path")
    real, name = await asyncio.to_thread(filesystem.file_for_download, runtime.workspace, raw_path)
    return FileResponse(
        real,
        media_type="application/octet-stream",
        filename=name,
        content_disposition_type="attachment",
    )


# -- processes and terminals -------------------------------------------------------------


def _process_id(request: Request) -> str:
    return str(request.path_params["process_id"])


async def process_start(runtime: Runtime, request: Request) -> Response:
    route = protocol.PROCESS_START
    body = await parse_body(request, route)
    cwd = paths.resolve(runtime.workspace, body.cwd, allow_root=True)
    if not cwd.real.is_dir():
        raise ValidationFailed(f"cwd {cwd.relative} is not a directory in /workspace")
    return reply(route, await runtime.processes.start(body, cwd.real, cwd.relative))


async def process_list(runtime: Runtime, request: Request) -> Response:
    return reply(protocol.PROCESS_LIST, await runtime.processes.list())


async def process_get(runtime: Runtime, request: Request) -> Response:
    return reply(protocol.PROCESS_GET, await runtime.processes.info(_process_id(request)))


async def process_output(runtime: Runtime, request: Request) -> Response:
    route = protocol.PROCESS_OUTPUT
    body = await parse_body(request, route)
    # A caller that goes away ends its wait (not the process).
    read = runtime.processes.output(_process_id(request), body)
    return reply(route, await until_disconnect(request, read))


async def process_input(runtime: Runtime, request: Request) -> Response:
    route = protocol.PROCESS_INPUT
    body = await parse_body(request, route)
    return reply(route, await runtime.processes.send_input(_process_id(request), body))


async def process_signal(runtime: Runtime, request: Request) -> Response:
    route = protocol.PROCESS_SIGNAL
    body = await parse_body(request, route)
    return reply(route, await runtime.processes.signal(_process_id(request), body.signal))


async def process_wait(runtime: Runtime, request: Request) -> Response:
    route = protocol.PROCESS_WAIT
    body = await parse_body(request, route)
    wait = runtime.processes.wait(_process_id(request), body.timeout)
    return reply(route, await until_disconnect(request, wait))


async def terminal_resize(runtime: Runtime, request: Request) -> Response:
    route = protocol.TERMINAL_RESIZE
    body = await parse_body(request, route)
    return reply(route, await runtime.processes.resize(_process_id(request), body.rows, body.cols))


async def terminal_screen(runtime: Runtime, request: Request) -> Response:
    return reply(protocol.TERMINAL_SCREEN, await runtime.processes.screen(_process_id(request)))


HANDLERS: dict[protocol.ShipRoute[Any, Any], Handler] = {
    protocol.HEALTH: health,
    protocol.META: meta,
    protocol.POOL_HEARTBEAT: pool_heartbeat,
    protocol.PYTHON_EXEC: python_exec,
    protocol.PYTHON_INTERRUPT: python_interrupt,
    protocol.CODE_EXEC: code_exec,
    protocol.CODE_INTERRUPT: code_interrupt,
    protocol.SHELL_EXEC: shell_exec,
    protocol.SHELL_CANCEL: shell_cancel,
    protocol.BROWSER_EXEC: browser_exec,
    protocol.READ_FILE: read_file,
    protocol.WRITE_FILE: write_file,
    protocol.DELETE_FILE: delete_file,
    protocol.LIST_DIRECTORY: list_directory,
    protocol.UPLOAD: upload,
    protocol.MOVE: move,
    protocol.DOWNLOAD: download,
    protocol.PROCESS_START: process_start,
    protocol.PROCESS_LIST: process_list,
    protocol.PROCESS_GET: process_get,
    protocol.PROCESS_OUTPUT: process_output,
    protocol.PROCESS_INPUT: process_input,
    protocol.PROCESS_SIGNAL: process_signal,
    protocol.PROCESS_WAIT: process_wait,
    protocol.TERMINAL_RESIZE: terminal_resize,
    protocol.TERMINAL_SCREEN: terminal_screen,
}
