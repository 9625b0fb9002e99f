"""The `/v1` routes: parse, call the service, shape the answer. No rules live here.

Every endpoint is one `Endpoint` in `ENDPOINTS`; the Starlette routes and the OpenAPI
document are both generated from that table.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bay_mcp import __version__
from bay_mcp.adapters.ship_client import OutputSink
from bay_mcp.bay import Bay
from bay_mcp.errors import BayError, NotFound, ValidationFailed
from bay_mcp.managers import no_progress
from bay_mcp.services.browser_commands import parse_command
from bay_mcp.services.cargos import CargoView
from bay_mcp.services.idempotency import fingerprint
from bay_mcp.services.reaper import GcStatus, RunReport
from bay_mcp.services.views import (
    Annotation,
    BrowserExecResult,
    ExposedPort,
    ForkedSandbox,
    HistoryEntry,
    HistoryPage,
    PythonExecResult,
    SandboxSummary,
    SandboxView,
    ShellExecResult,
    SnapshotList,
    SnapshotRestored,
    SnapshotTaken,
)
from rest import models
from rest.errors import error_response, internal_error_response
from rest.events import event_stream, wants_events
from rest.multipart import StreamedUpload

log = logging.getLogger(__name__)


Result = Response | tuple[int, Any]


@dataclass
class Call:
    """One parsed request, as a handler sees it."""

    request: Request
    bay: Bay
    owner: str
    request_id: str
    params: dict[str, str]
    body: Any = None
    query: Any = None


Handler = Callable[[Call], Awaitable[Result]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    status: int = 200
    response: type[BaseModel] | Literal["binary", "empty"] | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    multipart: bool = False
    idempotent: bool = False
    errors: Sequence[int] = field(default=(400, 401, 404))


# -- helpers ----------------------------------------------------------------------------


def _validation_failed(exc: ValidationError, where: str) -> ValidationFailed:
    fields = sorted({".".join(str(p) for p in err["loc"]) or where for err in exc.errors()})
    first = exc.errors()[0]
    location = ".".join(str(p) for p in first["loc"]) or where
    return ValidationFailed(
        f"invalid {where}: {location}: {first['msg']}",
        {"fields": fields, "field": location, "in": where},
    )


def _parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise _validation_failed(exc, "query") from exc


def _parse_body(raw: bytes, model: type[BaseModel]) -> BaseModel:
    try:
        data = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ValidationFailed("the body is not valid JSON", {"fields": ["body"]}) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_failed(exc, "body") from exc


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True)


# -- handlers ---------------------------------------------------------------------------


async def list_profiles(call: Call) -> Result:
    items = [
        models.ProfileItem(
            id=p.id,
            image=p.image,
            resources=models.ProfileResources(cpus=p.cpus, memory=f"{p.memory_mb}m"),
            capabilities=p.capabilities,
            idle_timeout=p.idle_timeout_seconds,
            description=p.description if call.query.detail else None,
        )
        for p in call.bay.sandboxes.profiles()
    ]
    return 200, _dump(models.ProfileList(items=items))


async def create_sandbox(call: Call) -> Result:
    body: models.CreateSandboxBody = call.body
    sandbox = await call.bay.sandboxes.create(
        call.owner,
        profile=body.profile,
        ttl_seconds=body.ttl or None,
        cargo_id=body.cargo_id,
        env=body.env,
    )
    return 201, _dump(SandboxSummary.model_validate(sandbox.model_dump()))


async def list_sandboxes(call: Call) -> Result:
    query: models.SandboxListQuery = call.query
    page = await call.bay.sandboxes.list(call.owner, query.status, query.page())
    summaries = [SandboxSummary.model_validate(v.model_dump()) for v in page.items]
    return 200, _dump(models.SandboxPage(items=summaries, next_cursor=page.next_cursor))


async def get_sandbox(call: Call) -> Result:
    return 200, _dump(await call.bay.sandboxes.get(call.owner, call.params["sandbox_id"]))


async def extend_ttl(call: Call) -> Result:
    body: models.ExtendTtlBody = call.body
    view = await call.bay.sandboxes.extend_ttl(
        call.owner, call.params["sandbox_id"], body.extend_by
    )
    return 200, _dump(SandboxSummary.model_validate(view.model_dump()))


async def keepalive(call: Call) -> Result:
    await call.bay.sandboxes.keepalive(call.owner, call.params["sandbox_id"])
    return 200, _dump(models.StatusOk())


async def stop_sandbox(call: Call) -> Result:
    await call.bay.sandboxes.stop(call.owner, call.params["sandbox_id"])
    return 200, _dump(models.StatusStopped())


async def delete_sandbox(call: Call) -> Result:
    await call.bay.sandboxes.delete(call.owner, call.params["sandbox_id"])
    return Response(status_code=204)


async def python_exec(call: Call) -> Result:
    body: models.PythonExecBody = call.body

    def run(on_output: OutputSink | None) -> Awaitable[PythonExecResult]:
        return call.bay.execution.python(
            call.owner,
            call.params["sandbox_id"],
            body.code,
            body.timeout,
            no_progress,
            Annotation(body.description, body.tags),
            on_output=on_output,
        )

    if wants_events(call.request):
        return event_stream(run, lambda result: _python_answer(result, body), call.request_id)
    return 200, _python_answer(await run(None), body)


def _python_answer(result: PythonExecResult, body: models.PythonExecBody) -> Any:
    error = None
    if result.error is not None:
        error = "\n".join(result.error.traceback) or f"{result.error.ename}: {result.error.evalue}"
    response = models.PythonExecResponse(
        success=result.success,
        output=result.output,
        error=error,
        data=models.PythonData(
            execution_count=result.execution_count,
            output=models.PythonOutput(
                text=result.output,
                images=[models.ImageOutput(png=image) for image in result.images],
            ),
        ),
        execution_id=result.execution_id,
        execution_time_ms=result.execution_time_ms,
        resources=result.resources,
        code=body.code if body.include_code else None,
        files_changed=result.files_changed,
    )
    return _dump(response)


async def shell_exec(call: Call) -> Result:
    body: models.ShellExecBody = call.body

    def run(on_output: OutputSink | None) -> Awaitable[ShellExecResult]:
        return call.bay.execution.shell(
            call.owner,
            call.params["sandbox_id"],
            body.command,
            body.timeout,
            body.cwd or ".",
            no_progress,
            Annotation(body.description, body.tags),
            on_output=on_output,
        )

    if wants_events(call.request):
        return event_stream(run, lambda result: _shell_answer(result, body), call.request_id)
    return 200, _shell_answer(await run(None), body)


def _shell_answer(result: ShellExecResult, body: models.ShellExecBody) -> Any:
    response = models.ShellExecResponse(
        success=result.success,
        output=result.output,
        error=result.error,
        exit_code=result.exit_code,
        execution_id=result.execution_id,
        execution_time_ms=result.execution_time_ms,
        resources=result.resources,
        code=body.command if body.include_code else None,
        files_changed=result.files_changed,
    )
    return _dump(response)


async def browser_exec(call: Call) -> Result:
    body: models.BrowserExecBody = call.body
    return 200, _dump(await _browse(call, [body.cmd], body.timeout, True, body))


async def browser_exec_batch(call: Call) -> Result:
    body: models.BrowserBatchBody = call.body
    result = await _browse(call, body.commands, body.timeout, body.stop_on_error, body)
    batch = models.BrowserBatchResponse(
        results=[
            models.BrowserStepResult(
                kind=step.kind,
                success=step.success,
                output=step.output,
                error=step.error,
                exit_code=0 if step.success else 1,
                execution_id=result.execution_id,
                execution_time_ms=step.execution_time_ms,
                screenshot=step.screenshot,
            )
            for step in result.steps
        ],
        total_steps=len(body.commands),
        completed_steps=len(result.steps),
        success=result.success and len(result.steps) == len(body.commands),
        duration_ms=result.execution_time_ms,
        execution_id=result.execution_id,
        url=result.url,
        title=result.title,
        changes=result.changes,
        launched=result.launched,
    )
    return 200, _dump(batch)


async def _browse(
    call: Call, commands: list[str], timeout: int, stop_on_error: bool, body: models.ExecAnnotation
) -> BrowserExecResult:
    actions = [parse_command(command) for command in commands]
    return await call.bay.execution.browser(
        call.owner,
        call.params["sandbox_id"],
        actions,
        timeout,
        no_progress,
        stop_on_error=stop_on_error,
        annotation=Annotation(body.description, body.tags),
    )


async def create_snapshot(call: Call) -> Result:
    body: models.CreateSnapshotBody = call.body
    taken = await call.bay.snapshots.create(
        call.owner, call.params["sandbox_id"], body.name, no_progress
    )
    return 201, _dump(taken)


async def list_snapshots(call: Call) -> Result:
    return 200, _dump(await call.bay.snapshots.list(call.owner, call.params["sandbox_id"]))


async def delete_snapshot(call: Call) -> Result:
    params = call.params
    await call.bay.snapshots.delete(call.owner, params["sandbox_id"], params["snapshot_id"])
    return Response(status_code=204)


async def restore_snapshot(call: Call) -> Result:
    params = call.params
    restored = await call.bay.snapshots.restore(
        call.owner, params["sandbox_id"], params["snapshot_id"], no_progress
    )
    return 200, _dump(restored)


async def fork_sandbox(call: Call) -> Result:
    body: models.ForkBody = call.body
    forked = await call.bay.snapshots.fork(
        call.owner, call.params["sandbox_id"], body.snapshot_id, no_progress
    )
    return 201, _dump(forked)


async def expose_port(call: Call) -> Result:
    body: models.ExposePortBody = call.body
    exposed = await call.bay.ports.expose(call.owner, call.params["sandbox_id"], body.port)
    return 201, _dump(exposed)


async def list_ports(call: Call) -> Result:
    ports = await call.bay.ports.list(call.owner, call.params["sandbox_id"])
    return 200, _dump(models.PortList(ports=ports))


async def unexpose_port(call: Call) -> Result:
    sandbox_id, port = call.params["sandbox_id"], call.params["port"]
    if not port.isdigit() or not await call.bay.ports.unexpose(call.owner, sandbox_id, int(port)):
        raise NotFound(
            f"port {port} of sandbox {sandbox_id} is not exposed (GET …/ports lists them)"
        )
    return Response(status_code=204)


async def history(call: Call) -> Result:
    query: models.HistoryQuery = call.query
    page = await call.bay.history.list(
        call.owner,
        call.params["sandbox_id"],
        exec_type=query.exec_type,
        success_only=query.success_only,
        tags=query.tags,
        has_notes=query.has_notes,
        has_description=query.has_description,
        limit=query.limit,
        offset=query.offset,
    )
    return 200, _dump(page)


async def history_last(call: Call) -> Result:
    query: models.LastQuery = call.query
    entry = await call.bay.history.last(call.owner, call.params["sandbox_id"], query.exec_type)
    return 200, _dump(entry)


async def history_entry(call: Call) -> Result:
    params = call.params
    entry = await call.bay.history.get(call.owner, params["sandbox_id"], params["execution_id"])
    return 200, _dump(entry)


async def annotate(call: Call) -> Result:
    body: models.AnnotateBody = call.body
    entry = await call.bay.history.annotate(
        call.owner,
        call.params["sandbox_id"],
        call.params["execution_id"],
        description=body.description,
        tags=body.tags,
        notes=body.notes,
    )
    return 200, _dump(entry)


async def read_file(call: Call) -> Result:
    query: models.PathQuery = call.query
    text = await call.bay.files.read_text(
        call.owner, call.params["sandbox_id"], query.path, no_progress
    )
    return 200, _dump(models.FileContent(content=text.content))


async def write_file(call: Call) -> Result:
    body: models.WriteFileBody = call.body
    await call.bay.files.write_text(
        call.owner, call.params["sandbox_id"], body.path, body.content, no_progress
    )
    return 200, _dump(models.StatusOk())


async def delete_file(call: Call) -> Result:
    query: models.PathQuery = call.query
    await call.bay.files.delete(call.owner, call.params["sandbox_id"], query.path, no_progress)
    return 200, _dump(models.StatusOk())


async def list_directory(call: Call) -> Result:
    query: models.DirectoryQuery = call.query
    listing = await call.bay.files.list_directory(
        call.owner, call.params["sandbox_id"], query.path, no_progress
    )
    return 200, _dump(models.DirectoryBody(entries=listing.entries))


async def upload_file(call: Call) -> Result:
    upload = StreamedUpload(call.request, call.request.query_params.get("path"))
    await upload.open()
    written = await call.bay.files.upload(
        call.owner, call.params["sandbox_id"], upload, no_progress
    )
    return 200, _dump(models.Uploaded(path=written.path, size=written.size))


async def download_file(call: Call) -> Result:
    query: models.PathQuery = call.query
    stack = AsyncExitStack()
    download = await stack.enter_async_context(
        call.bay.files.download(call.owner, call.params["sandbox_id"], query.path, no_progress)
    )

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in download.chunks:
                yield chunk
        finally:
            await stack.aclose()

    name = query.path.rsplit("/", 1)[-1]
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if download.size is not None:
        headers["Content-Length"] = str(download.size)
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


async def create_cargo(call: Call) -> Result:
    body: models.CreateCargoBody = call.body
    return 201, _dump(await call.bay.cargos.create(call.owner, body.size_limit_mb))


async def list_cargos(call: Call) -> Result:
    query: models.CargoListQuery = call.query
    page = await call.bay.cargos.list(call.owner, query.managed, query.page())
    return 200, _dump(models.CargoPage(items=page.items, next_cursor=page.next_cursor))


async def get_cargo(call: Call) -> Result:
    return 200, _dump(await call.bay.cargos.get(call.owner, call.params["cargo_id"]))


async def delete_cargo(call: Call) -> Result:
    await call.bay.cargos.delete(call.owner, call.params["cargo_id"])
    return Response(status_code=204)


async def gc_run(call: Call) -> Result:
    body: models.GcRunBody = call.body
    return 200, _dump(await call.bay.admin.run_gc(call.owner, body.tasks))


async def gc_status(call: Call) -> Result:
    return 200, _dump(call.bay.admin.gc_status(call.owner))


SANDBOX = "/v1/sandboxes/{sandbox_id}"
RUNTIME_ERRORS = (400, 401, 404, 409, 502, 503, 504)
COPY_ERRORS = (400, 401, 404, 409, 429, 503, 504)

ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/v1/profiles", list_profiles, "List profiles", response=models.ProfileList,
             query=models.ProfilesQuery, errors=(400, 401)),
    Endpoint("POST", "/v1/sandboxes", create_sandbox, "Create a sandbox (no container starts)",
             status=201, response=SandboxSummary, body=models.CreateSandboxBody,
             idempotent=True, errors=(400, 401, 404, 409, 429)),
    Endpoint("GET", "/v1/sandboxes", list_sandboxes, "List your sandboxes",
             response=models.SandboxPage, query=models.SandboxListQuery, errors=(400, 401)),
    Endpoint("GET", SANDBOX, get_sandbox, "Get a sandbox with its containers",
             response=SandboxView),
    Endpoint("POST", SANDBOX + "/extend_ttl", extend_ttl, "Extend a sandbox's TTL",
             response=SandboxSummary, body=models.ExtendTtlBody, idempotent=True,
             errors=(400, 401, 404, 409)),
    Endpoint("POST", SANDBOX + "/keepalive", keepalive, "Reset the idle timer",
             response=models.StatusOk),
    Endpoint("POST", SANDBOX + "/stop", stop_sandbox, "Stop: container gone, files kept",
             response=models.StatusStopped),
    Endpoint("DELETE", SANDBOX, delete_sandbox, "Delete: container and managed cargo gone",
             status=204, response="empty"),
    Endpoint("POST", SANDBOX + "/python/exec", python_exec,
             "Run Python in the kernel (Accept: text/event-stream: live output)",
             response=models.PythonExecResponse, body=models.PythonExecBody,
             errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/shell/exec", shell_exec,
             "Run a shell command (Accept: text/event-stream: live output)",
             response=models.ShellExecResponse, body=models.ShellExecBody,
             errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/browser/exec", browser_exec, "Run one browser command",
             response=BrowserExecResult, body=models.BrowserExecBody, errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/browser/exec_batch", browser_exec_batch,
             "Run browser commands in order", response=models.BrowserBatchResponse,
             body=models.BrowserBatchBody, errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/snapshots", create_snapshot,
             "Snapshot the workspace's files (waits for calls in flight; no kernel memory)",
             status=201, response=SnapshotTaken, body=models.CreateSnapshotBody,
             idempotent=True, errors=COPY_ERRORS),
    Endpoint("GET", SANDBOX + "/snapshots", list_snapshots, "List the sandbox's snapshots",
             response=SnapshotList),
    Endpoint("DELETE", SANDBOX + "/snapshots/{snapshot_id}", delete_snapshot,
             "Delete a snapshot", status=204, response="empty", errors=COPY_ERRORS),
    Endpoint("POST", SANDBOX + "/snapshots/{snapshot_id}/restore", restore_snapshot,
             "Put the snapshot's files back exactly; the session restarts",
             response=SnapshotRestored, errors=COPY_ERRORS),
    Endpoint("POST", SANDBOX + "/fork", fork_sandbox,
             "Fork: a new sandbox with a copy of the files (of a snapshot, or as they are)",
             status=201, response=ForkedSandbox, body=models.ForkBody, idempotent=True,
             errors=COPY_ERRORS),
    Endpoint("POST", SANDBOX + "/ports", expose_port, "Expose a port: a preview URL",
             status=201, response=ExposedPort, body=models.ExposePortBody,
             errors=RUNTIME_ERRORS),
    Endpoint("GET", SANDBOX + "/ports", list_ports, "The exposed ports, with fresh URLs",
             response=models.PortList),
    Endpoint("DELETE", SANDBOX + "/ports/{port}", unexpose_port, "Close an exposed port",
             status=204, response="empty"),
    Endpoint("GET", SANDBOX + "/history", history, "Execution history, newest first",
             response=HistoryPage, query=models.HistoryQuery),
    Endpoint("GET", SANDBOX + "/history/last", history_last, "The latest execution",
             response=HistoryEntry, query=models.LastQuery),
    Endpoint("GET", SANDBOX + "/history/{execution_id}", history_entry, "One execution",
             response=HistoryEntry),
    Endpoint("PATCH", SANDBOX + "/history/{execution_id}", annotate,
             "Annotate an execution (description, tags, notes)", response=HistoryEntry,
             body=models.AnnotateBody),
    Endpoint("GET", SANDBOX + "/filesystem/files", read_file, "Read a text file",
             response=models.FileContent, query=models.PathQuery, errors=RUNTIME_ERRORS),
    Endpoint("PUT", SANDBOX + "/filesystem/files", write_file, "Write a text file",
             response=models.StatusOk, body=models.WriteFileBody, errors=RUNTIME_ERRORS),
    Endpoint("DELETE", SANDBOX + "/filesystem/files", delete_file, "Delete a file or directory",
             response=models.StatusOk, query=models.PathQuery, errors=RUNTIME_ERRORS),
    Endpoint("GET", SANDBOX + "/filesystem/directories", list_directory, "List a directory",
             response=models.DirectoryBody, query=models.DirectoryQuery, errors=RUNTIME_ERRORS),
    Endpoint("POST", SANDBOX + "/filesystem/upload", upload_file, "Upload a file (multipart)",
             response=models.Uploaded, multipart=True, errors=RUNTIME_ERRORS),
    Endpoint("GET", SANDBOX + "/filesystem/download", download_file, "Download a file's bytes",
             response="binary", query=models.PathQuery, errors=RUNTIME_ERRORS),
    Endpoint("POST", "/v1/cargos", create_cargo, "Create an external cargo", status=201,
             response=CargoView, body=models.CreateCargoBody, idempotent=True,
             errors=(400, 401, 409)),
    Endpoint("GET", "/v1/cargos", list_cargos, "List cargos (external unless managed=true)",
             response=models.CargoPage, query=models.CargoListQuery, errors=(400, 401)),
    Endpoint("GET", "/v1/cargos/{cargo_id}", get_cargo, "Get a cargo",
             response=CargoView),
    Endpoint("DELETE", "/v1/cargos/{cargo_id}", delete_cargo,
             "Delete an external cargo (409 while in use)", status=204, response="empty",
             errors=(400, 401, 404, 409)),
    Endpoint("POST", "/v1/admin/gc/run", gc_run, "Run garbage collection now (admin)",
             response=RunReport, body=models.GcRunBody, errors=(400, 401, 403, 423)),
    Endpoint("GET", "/v1/admin/gc/status", gc_status, "Garbage collection status (admin)",
             response=GcStatus, errors=(401, 403)),
]  # fmt: skip


# -- the glue ---------------------------------------------------------------------------


def _route(endpoint: Endpoint, bay: Bay) -> Route:
    async def handle(request: Request) -> Response:
        request_id: str = request.state.request_id
        try:
            raw = b"" if endpoint.multipart or endpoint.body is None else await request.body()
            call = Call(
                request=request,
                bay=bay,
                owner=request.state.owner,
                request_id=request_id,
                params={k: str(v) for k, v in request.path_params.items()},
                query=_parse_query(request, endpoint.query) if endpoint.query else None,
                body=_parse_body(raw, endpoint.body) if endpoint.body else None,
            )
            key = request.headers.get("idempotency-key")
            if endpoint.idempotent and key is not None:
                status, payload = await bay.idempotency.run(
                    call.owner,
                    key,
                    fingerprint(endpoint.method, request.url.path, raw),
                    lambda: _as_json(endpoint.handler(call)),
                )
                result: Result = (status, payload)
            else:
                result = await endpoint.handler(call)
        except BayError as exc:
            return error_response(exc, request_id)
        except Exception as exc:
            return internal_error_response(exc, request_id)
        if isinstance(result, Response):
            result.headers["X-Request-Id"] = request_id
            return result
        status, payload = result
        return JSONResponse(payload, status_code=status, headers={"X-Request-Id": request_id})

    return Route(endpoint.path, handle, methods=[endpoint.method])


async def _as_json(pending: Awaitable[Result]) -> tuple[int, Any]:
    result = await pending
    if isinstance(result, Response):
        raise TypeError("an idempotent endpoint must answer JSON")
    return result


def rest_routes(bay: Bay) -> list[Route]:
    return [_route(endpoint, bay) for endpoint in ENDPOINTS]


def health_route(bay: Bay) -> Route:
    async def health(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await bay.db.ping()
            checks["database"] = "ok (sqlite)" if bay.db.is_sqlite else "ok (postgresql)"
        except Exception as exc:  # reported, not raised: this is the health check
            checks["database"] = f"failing: {type(exc).__name__}"
        try:
            checks["driver"] = f"ok ({bay.settings.driver} {await bay.driver.ping()})"
        except Exception as exc:
            checks["driver"] = f"failing: {exc}"
        healthy = all(value.startswith("ok") for value in checks.values())
        body = models.HealthBody(
            status="healthy" if healthy else "unhealthy",
            version=__version__,
            checks=checks,
            pool=bay.pool.report(),
        )
        return JSONResponse(_dump(body), status_code=200 if healthy else 503)

    return Route("/health", health, methods=["GET"])
