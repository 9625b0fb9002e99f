"""The MCP server: every tool and the cargo resources, over Bay's services.

Errors: a `BayError` becomes a tool error whose text is its message (what happened,
what to do); anything else is logged with its traceback and the model reads only
that an internal error happened, with an id to find it in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast
from urllib.parse import unquote, urlsplit

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import CallToolResult, ListResourcesResult, Resource
from mcp_types import ToolAnnotations as Hints
from pydantic import BaseModel, Field, create_model, model_validator

from bay_mcp import __version__

if TYPE_CHECKING:
    from bay_mcp.bay import Bay
from bay_mcp.errors import BayError
from bay_mcp.limits import DEFAULT_PROFILE, DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, MIN_TIMEOUT_S
from bay_mcp.managers import Progress, no_progress
from bay_mcp.mcp.results import file_content, file_links, python_content, shell_content
from bay_mcp.services.output import cargo_uri
from bay_mcp.services.views import (
    Annotation,
    DirectoryListing,
    FileEdited,
    FileWritten,
    HistoryEntry,
    HistoryPage,
    ProfileView,
    PythonError,
    SandboxStatus,
    SandboxView,
)
from ship.protocol import FilesChanged, ResourceReport

log = logging.getLogger(__name__)

OwnerOf = Callable[[Context[Any, Any] | None], str]
BayReady = Callable[[], Awaitable["Bay"]]
T = TypeVar("T")
ToolFunction = TypeVar("ToolFunction", bound=Callable[..., Any])
Arguments = TypeVar("Arguments", bound=BaseModel)

HEARTBEAT_S = 5.0
# New output goes out at most this often (a notification per print would flood a host).
LIVE_INTERVAL_S = 0.25

INSTRUCTIONS = """\
Bay gives you persistent, isolated Linux sandboxes. Call create_sandbox once, then use
its sandbox_id with python_exec (a stateful IPython kernel: variables and imports persist
between calls until the sandbox stops), shell_exec (bash), and the file tools. Files
live in /workspace (all paths are relative to it) and survive stop_sandbox; they are
gone after delete_sandbox. The first call on a new or stopped sandbox starts its
container (about a second). Delete sandboxes you no longer need."""

SandboxId = Annotated[str, Field(description="The sandbox's id, as returned by create_sandbox")]
RunDescription = Annotated[
    str | None, Field(description="What this run is for, kept in the execution history")
]
RunTags = Annotated[str | None, Field(description="Comma-separated tags for the history")]
Timeout = Annotated[
    int,
    Field(
        ge=MIN_TIMEOUT_S,
        le=MAX_TIMEOUT_S,
        description=f"Time limit in seconds ({MIN_TIMEOUT_S}–{MAX_TIMEOUT_S}); "
        f"default {DEFAULT_TIMEOUT_S}",
    ),
]
WorkspacePathArg = Annotated[
    str,
    Field(
        description="Path relative to /workspace, e.g. 'data/out.csv'. Absolute paths and "
        "'..' above the workspace are refused"
    ),
]


class PythonExecOutput(BaseModel):
    success: bool
    output: str
    error: PythonError | None = None
    execution_count: int | None = None
    truncated: bool
    execution_time_ms: int
    resources: ResourceReport | None = None
    files_changed: FilesChanged | None = None


class ShellExecOutput(BaseModel):
    success: bool
    exit_code: int | None
    output: str
    truncated: bool
    execution_time_ms: int
    resources: ResourceReport | None = None
    files_changed: FilesChanged | None = None


class Confirmation(BaseModel):
    sandbox_id: str
    status: str
    message: str


class ProfileList(BaseModel):
    profiles: list[ProfileView]


class SandboxList(BaseModel):
    sandboxes: list[SandboxView]


class FileDeleted(BaseModel):
    path: str
    status: str = "deleted"


class BayMCPServer(MCPServer[Any]):
    """MCPServer whose resource list is the caller's sandboxes, and whose cargo
    resources carry each file's own MIME type."""

    def __init__(self, ready: BayReady, owner_of: OwnerOf, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ready = ready
        self.owner_of = owner_of

    def tool(  # type: ignore[override]  # same call, description filled in
        self, name: str | None = None, **options: Any
    ) -> Callable[[ToolFunction], ToolFunction]:
        """Register a tool whose description is its docstring without the source's
        indentation: the description is what the model reads."""

        def register(function: ToolFunction) -> ToolFunction:
            options.setdefault("description", inspect.cleandoc(getattr(function, "__doc__", "")))
            registered = super(BayMCPServer, self).tool(name, **options)(function)
            # The SDK reads a tool's argument model live; the tool manager is its only
            # handle on a registered tool.
            tool = self._tool_manager.get_tool(name or function.__name__)
            assert tool is not None
            tool.fn_metadata.arg_model = strict_arguments(tool.fn_metadata.arg_model)
            tool.parameters["additionalProperties"] = False
            return registered

        return register

    async def _handle_list_resources(self, ctx: Any, params: Any) -> ListResourcesResult:
        owner = self.owner_of(
            None if ctx is None else Context(request_context=ctx, mcp_server=self)
        )
        bay = await self.ready()
        sandboxes = (await bay.sandboxes.list(owner)).items
        return ListResourcesResult(
            resources=[
                Resource(
                    uri=cargo_uri(sandbox.id, ""),
                    name=f"{sandbox.id} workspace",
                    description=f"/workspace of sandbox {sandbox.id} ({sandbox.status}); "
                    "reading it lists its files",
                    mime_type="application/json",
                )
                for sandbox in sandboxes
            ]
        )

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        text = str(uri)
        if not text.startswith("cargo://"):
            return await super().read_resource(uri, context)
        parts = urlsplit(text)
        sandbox_id = parts.netloc
        path = unquote(parts.path.lstrip("/")) or "."
        owner = self.owner_of(context)
        try:
            bay = await self.ready()
            read = await bay.files.read_resource(owner, sandbox_id, path)
        except BayError as exc:
            raise ResourceError(exc.message) from exc
        return [ReadResourceContents(content=read.content, mime_type=read.mime_type)]


def strict_arguments(model: type[Arguments]) -> type[Arguments]:
    """`model`, refusing arguments it does not know: a misspelt argument is an error
    that names it and the accepted ones, never silently ignored."""
    accepted = [field.alias or name for name, field in model.model_fields.items()]

    def known_only(data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(accepted))
            if unknown:
                raise ValueError(
                    f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                    f"this tool takes {', '.join(accepted) or 'no arguments'}"
                )
        return data

    return create_model(
        model.__name__,
        __base__=model,
        # pydantic's stubs type this dict as plain callables; a decorated one is what works.
        __validators__={
            "known_only": cast(Callable[..., Any], model_validator(mode="before")(known_only))
        },
    )


def _wants_progress(ctx: Context[Any, Any]) -> bool:
    """Whether the caller asked for progress notifications (sent a progress token)."""
    meta = getattr(ctx.request_context, "meta", None) or {}
    return meta.get("progress_token") is not None or meta.get("progressToken") is not None


def _live_output(ctx: Context[Any, Any], limit: int) -> LiveOutput | None:
    """A LiveOutput when the caller asked for progress notifications: streaming the
    output from Ship costs a call ~2 ms, paid only by a caller that will see it."""
    return LiveOutput(limit) if _wants_progress(ctx) else None


def _progress_for(ctx: Context[Any, Any]) -> Progress:
    if not _wants_progress(ctx):
        return no_progress  # nothing would be sent: no reports, no heartbeat
    step = 0

    async def report(message: str) -> None:
        nonlocal step
        step += 1
        with contextlib.suppress(Exception):  # progress is best effort, never fatal
            await ctx.report_progress(step, None, message)

    return report


class LiveOutput:
    """A run's output as it comes, for progress notifications: gathered between them,
    and never more in all than the result can hold (`limit` characters)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pending: list[str] = []
        self._given = 0

    def add(self, text: str) -> None:
        room = self._limit - self._given
        if room <= 0:
            return
        kept = text[:room]
        self._pending.append(kept)
        self._given += len(kept)
        if len(kept) < len(text):
            self._pending.append("\n[live output stops here; the result has the rest]\n")

    def take(self) -> str | None:
        if not self._pending:
            return None
        text, self._pending = "".join(self._pending), []
        return text


async def _with_heartbeat(
    work: Awaitable[T], progress: Progress, what: str, live: LiveOutput | None = None
) -> T:
    """Await `work`, reporting its new output (`live`) every LIVE_INTERVAL_S and the
    elapsed time every few seconds while it says nothing. A caller that will hear
    nothing gets the work awaited as it is (no task, no timer: a warm call's time)."""
    if progress is no_progress and live is None:
        return await work
    task = asyncio.ensure_future(work)
    started = last_report = time.monotonic()
    try:
        while True:
            tick = HEARTBEAT_S if live is None else LIVE_INTERVAL_S
            done, _ = await asyncio.wait({task}, timeout=tick)
            if done:
                return task.result()
            now = time.monotonic()
            if live is not None and (text := live.take()) is not None:
                await progress(text)
                last_report = now
            elif now - last_report >= HEARTBEAT_S:
                await progress(f"{what}: {now - started:.0f} s elapsed")
                last_report = now
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _call(work: Awaitable[T]) -> T:
    """Run a service call; translate its errors into tool errors a model can act on."""
    try:
        return await work
    except BayError as exc:
        raise ToolError(exc.message) from exc
    except (ToolError, asyncio.CancelledError):
        raise
    except Exception as exc:
        incident = secrets.token_hex(4)
        log.exception("internal error %s", incident)
        raise ToolError(
            f"Bay hit an internal error (incident {incident}); it is logged. Retry, "
            "or report it with that id."
        ) from exc


def create_mcp_server(ready: BayReady, owner_of: OwnerOf) -> BayMCPServer:
    """The MCP server over Bay: `ready()` gives the started Bay (awaited by every call, so
    a server can answer `initialize` before Bay has finished starting)."""
    mcp = BayMCPServer(
        ready,
        owner_of,
        name="bay",
        title="Bay sandboxes",
        instructions=INSTRUCTIONS,
        version=__version__,
    )
    # -- sandboxes ------------------------------------------------------------------

    @mcp.tool(
        name="create_sandbox",
        annotations=Hints(read_only_hint=False, destructive_hint=False, idempotent_hint=False),
    )
    async def create_sandbox(
        ctx: Context[Any, Any],
        profile: Annotated[
            str, Field(description="Profile name (list_profiles shows them)")
        ] = DEFAULT_PROFILE,
        ttl_seconds: Annotated[
            int | None,
            Field(
                ge=0,
                description="Delete the sandbox after this many seconds; omit or 0 "
                "to keep it until delete_sandbox",
            ),
        ] = None,
        cargo_id: Annotated[
            str | None,
            Field(description="Attach an existing external cargo (volume) instead of a new one"),
        ] = None,
        env: Annotated[
            dict[str, str] | None,
            Field(
                description="Environment variables every process in the sandbox gets (e.g. "
                "an API key the task needs); names only are shown afterwards"
            ),
        ] = None,
    ) -> SandboxView:
        """Create a sandbox: an isolated Linux environment with Python 3 (numpy, pandas,
        matplotlib), bash and a persistent /workspace. Returns its sandbox_id. No
        container runs until the first exec or file call, which starts it (~1 s)."""
        bay = await _call(ready())
        return await _call(
            bay.sandboxes.create(
                owner_of(ctx),
                profile=profile,
                ttl_seconds=ttl_seconds or None,
                cargo_id=cargo_id,
                env=env,
            )
        )

    @mcp.tool(name="list_sandboxes", annotations=Hints(read_only_hint=True))
    async def list_sandboxes(
        ctx: Context[Any, Any],
        status: Annotated[
            SandboxStatus | None,
            Field(
                description="Only sandboxes in this status: idle, starting, ready, failed, expired"
            ),
        ] = None,
    ) -> SandboxList:
        """List your sandboxes with their status (idle: no container running; ready:
        running)."""
        bay = await _call(ready())
        page = await _call(bay.sandboxes.list(owner_of(ctx), status))
        return SandboxList(sandboxes=page.items)

    @mcp.tool(name="get_sandbox", annotations=Hints(read_only_hint=True))
    async def get_sandbox(ctx: Context[Any, Any], sandbox_id: SandboxId) -> SandboxView:
        """Show one sandbox: status, profile, capabilities, expiry, and its container."""
        bay = await _call(ready())
        return await _call(bay.sandboxes.get(owner_of(ctx), sandbox_id))

    @mcp.tool(
        name="stop_sandbox",
        annotations=Hints(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    )
    async def stop_sandbox(ctx: Context[Any, Any], sandbox_id: SandboxId) -> Confirmation:
        """Stop the sandbox's container. Files in /workspace are kept; Python variables
        are lost. The next exec or file call starts it again."""
        bay = await _call(ready())
        await _call(bay.sandboxes.stop(owner_of(ctx), sandbox_id))
        return Confirmation(
            sandbox_id=sandbox_id,
            status="stopped",
            message="The container is stopped; files in /workspace are kept.",
        )

    @mcp.tool(
        name="delete_sandbox",
        annotations=Hints(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    )
    async def delete_sandbox(ctx: Context[Any, Any], sandbox_id: SandboxId) -> Confirmation:
        """Delete the sandbox for good: its container and its files (unless its cargo was
        attached from outside). The sandbox_id stops working."""
        bay = await _call(ready())
        await _call(bay.sandboxes.delete(owner_of(ctx), sandbox_id))
        return Confirmation(
            sandbox_id=sandbox_id,
            status="deleted",
            message="The sandbox and its files are deleted.",
        )

    @mcp.tool(
        name="extend_sandbox_ttl",
        annotations=Hints(read_only_hint=False, destructive_hint=False, idempotent_hint=True),
    )
    async def extend_sandbox_ttl(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        seconds: Annotated[int, Field(gt=0, description="Seconds to add to the expiry")],
    ) -> SandboxView:
        """Push back a sandbox's expiry (new expiry = max(old expiry, now) + seconds).
        Only for sandboxes created with a ttl_seconds; an expired sandbox cannot be
        revived."""
        bay = await _call(ready())
        return await _call(bay.sandboxes.extend_ttl(owner_of(ctx), sandbox_id, seconds))

    @mcp.tool(name="list_profiles", annotations=Hints(read_only_hint=True))
    async def list_profiles() -> ProfileList:
        """List the sandbox profiles: image, CPU and memory limits, capabilities, idle
        timeout (after which an unused sandbox's container is stopped; files stay)."""
        bay = await _call(ready())
        return ProfileList(profiles=bay.sandboxes.profiles())

    # -- execution ------------------------------------------------------------------

    @mcp.tool(
        name="python_exec",
        annotations=Hints(read_only_hint=False, destructive_hint=True, idempotent_hint=False),
    )
    async def python_exec(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        code: Annotated[str, Field(description="Python source to run, any number of lines")],
        timeout: Timeout = DEFAULT_TIMEOUT_S,
        description: RunDescription = None,
        tags: RunTags = None,
    ) -> Annotated[CallToolResult, PythonExecOutput]:
        """Run Python in the sandbox's IPython kernel, in /workspace. State persists:
        variables, imports and functions stay defined for later calls until the sandbox
        stops. Returns stdout, stderr and the last expression's value, or the error with
        its traceback; figures shown with plt.show() or left as the last expression come
        back as PNG images. Output over the limit keeps its head and tail; the full text
        is saved in /workspace/.bay/outputs/. On timeout the code is interrupted."""
        bay = await _call(ready())
        owner = owner_of(ctx)
        progress = _progress_for(ctx)
        live = _live_output(ctx, bay.settings.output_limit_chars)
        result = await _call(
            _with_heartbeat(
                bay.execution.python(
                    owner,
                    sandbox_id,
                    code,
                    timeout,
                    progress,
                    Annotation(description, tags),
                    on_output=None if live is None else live.add,
                ),
                progress,
                "running Python",
                live,
            )
        )
        text = await _call(
            bay.execution.output_for_model(owner, sandbox_id, result.execution_id, result.output)
        )
        structured = PythonExecOutput(
            success=result.success,
            output=text,
            error=result.error,
            execution_count=result.execution_count,
            truncated=result.truncated or text != result.output,
            execution_time_ms=result.execution_time_ms,
            resources=result.resources,
            files_changed=result.files_changed,
        )
        return CallToolResult(
            content=python_content(result, text) + file_links(sandbox_id, result.files_changed),
            structured_content=structured.model_dump(mode="json"),
        )

    @mcp.tool(
        name="shell_exec",
        annotations=Hints(read_only_hint=False, destructive_hint=True, idempotent_hint=False),
    )
    async def shell_exec(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        command: Annotated[str, Field(description="A bash command line (run with bash -lc)")],
        timeout: Timeout = DEFAULT_TIMEOUT_S,
        cwd: Annotated[
            str, Field(description="Working directory relative to /workspace; default '.'")
        ] = ".",
        description: RunDescription = None,
        tags: RunTags = None,
    ) -> Annotated[CallToolResult, ShellExecOutput]:
        """Run a shell command in the sandbox with bash, as an unprivileged user. Returns
        stdout and stderr interleaved, and the exit code. On timeout the command and
        every process it started are killed. Files written under /workspace persist."""
        bay = await _call(ready())
        owner = owner_of(ctx)
        progress = _progress_for(ctx)
        live = _live_output(ctx, bay.settings.output_limit_chars)
        result = await _call(
            _with_heartbeat(
                bay.execution.shell(
                    owner,
                    sandbox_id,
                    command,
                    timeout,
                    cwd,
                    progress,
                    Annotation(description, tags),
                    on_output=None if live is None else live.add,
                ),
                progress,
                "running the command",
                live,
            )
        )
        text = await _call(
            bay.execution.output_for_model(owner, sandbox_id, result.execution_id, result.output)
        )
        structured = ShellExecOutput(
            success=result.success,
            exit_code=result.exit_code,
            output=text,
            truncated=result.truncated or text != result.output,
            execution_time_ms=result.execution_time_ms,
            resources=result.resources,
            files_changed=result.files_changed,
        )
        return CallToolResult(
            content=shell_content(result, text) + file_links(sandbox_id, result.files_changed),
            structured_content=structured.model_dump(mode="json"),
        )

    # -- files ----------------------------------------------------------------------

    @mcp.tool(name="read_file", annotations=Hints(read_only_hint=True))
    async def read_file(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        path: WorkspacePathArg,
        offset: Annotated[
            int | None, Field(ge=0, description="Lines to skip from the start (large files)")
        ] = None,
        limit: Annotated[
            int | None, Field(ge=1, description="At most this many lines (large files)")
        ] = None,
    ) -> CallToolResult:
        """Read a file from /workspace. Text files come back as text (use offset and
        limit, in lines, for large ones); images (PNG, JPEG, GIF, WebP) as images; other
        binary files as their size, type and a resource URI to fetch the bytes."""
        bay = await _call(ready())
        read = await _call(
            bay.files.read_for_model(
                owner_of(ctx), sandbox_id, path, _progress_for(ctx), offset=offset or 0, limit=limit
            )
        )
        return CallToolResult(content=[file_content(sandbox_id, read)])

    @mcp.tool(
        name="write_file",
        annotations=Hints(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    )
    async def write_file(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        path: WorkspacePathArg,
        content: Annotated[str, Field(description="The whole new text of the file (UTF-8)")],
    ) -> FileWritten:
        """Write a text file in /workspace, replacing it if it exists and creating parent
        directories. Files persist across sandbox stops."""
        bay = await _call(ready())
        return await _call(
            bay.files.write_text(owner_of(ctx), sandbox_id, path, content, _progress_for(ctx))
        )

    @mcp.tool(
        name="edit_file",
        annotations=Hints(read_only_hint=False, destructive_hint=True, idempotent_hint=False),
    )
    async def edit_file(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        path: WorkspacePathArg,
        old_string: Annotated[str, Field(description="Exact text to find, whitespace included")],
        new_string: Annotated[str, Field(description="Text to put in its place")],
        replace_all: Annotated[
            bool, Field(description="Replace every occurrence; otherwise it must be unique")
        ] = False,
    ) -> FileEdited:
        """Replace text in a file in /workspace. Fails if old_string is absent, or occurs
        more than once without replace_all (add surrounding lines to make it unique)."""
        bay = await _call(ready())
        return await _call(
            bay.files.edit_text(
                owner_of(ctx),
                sandbox_id,
                path,
                old_string,
                new_string,
                _progress_for(ctx),
                replace_all=replace_all,
            )
        )

    @mcp.tool(name="list_files", annotations=Hints(read_only_hint=True))
    async def list_files(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        path: Annotated[
            str, Field(description="Directory relative to /workspace; default '.' (the root)")
        ] = ".",
    ) -> DirectoryListing:
        """List a directory in /workspace: each entry's name, path, type and size."""
        bay = await _call(ready())
        return await _call(
            bay.files.list_directory(owner_of(ctx), sandbox_id, path, _progress_for(ctx))
        )

    @mcp.tool(
        name="delete_file",
        annotations=Hints(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    )
    async def delete_file(
        ctx: Context[Any, Any], sandbox_id: SandboxId, path: WorkspacePathArg
    ) -> FileDeleted:
        """Delete a file or a whole directory in /workspace (a symlink is removed, not
        what it points to)."""
        bay = await _call(ready())
        deleted = await _call(bay.files.delete(owner_of(ctx), sandbox_id, path, _progress_for(ctx)))
        return FileDeleted(path=deleted)

    # -- resources ------------------------------------------------------------------

    # -- history --------------------------------------------------------------------

    @mcp.tool(name="get_execution_history", annotations=Hints(read_only_hint=True))
    async def get_execution_history(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        exec_type: Annotated[
            Literal["python", "shell"] | None, Field(description="Only python or shell runs")
        ] = None,
        success_only: Annotated[bool, Field(description="Only runs that succeeded")] = False,
        tags: Annotated[
            str | None, Field(description="Only runs carrying all these tags (comma-separated)")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="At most this many")] = 20,
        offset: Annotated[int, Field(ge=0, description="Skip this many (newest first)")] = 0,
    ) -> HistoryPage:
        """List the sandbox's past runs, newest first: code, success, duration, output
        (head and tail), description, tags and notes."""
        bay = await _call(ready())
        return await _call(
            bay.history.list(
                owner_of(ctx),
                sandbox_id,
                exec_type=exec_type,
                success_only=success_only,
                tags=tags,
                limit=limit,
                offset=offset,
            )
        )

    @mcp.tool(name="get_execution", annotations=Hints(read_only_hint=True))
    async def get_execution(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        execution_id: Annotated[str, Field(description="An execution_id a run returned")],
    ) -> HistoryEntry:
        """Show one past run of the sandbox by its execution_id."""
        bay = await _call(ready())
        return await _call(bay.history.get(owner_of(ctx), sandbox_id, execution_id))

    @mcp.tool(
        name="annotate_execution",
        annotations=Hints(read_only_hint=False, destructive_hint=False, idempotent_hint=True),
    )
    async def annotate_execution(
        ctx: Context[Any, Any],
        sandbox_id: SandboxId,
        execution_id: Annotated[str, Field(description="An execution_id a run returned")],
        description: RunDescription = None,
        tags: RunTags = None,
        notes: Annotated[str | None, Field(description="Free notes; '' clears them")] = None,
    ) -> HistoryEntry:
        """Describe, tag or add notes to a past run (e.g. which attempt worked), to find
        it again with get_execution_history. What is not given is kept."""
        bay = await _call(ready())
        return await _call(
            bay.history.annotate(
                owner_of(ctx),
                sandbox_id,
                execution_id,
                description=description,
                tags=tags,
                notes=notes,
            )
        )

    @mcp.resource(
        "cargo://{sandbox_id}/{+path}",
        name="cargo-file",
        description="A file in a sandbox's /workspace: text with its MIME type, binary as a "
        "blob; a directory reads as a JSON listing",
    )
    async def cargo_file(sandbox_id: str, path: str, ctx: Context[Any, Any]) -> str | bytes:
        bay = await _call(ready())
        try:
            read = await bay.files.read_resource(owner_of(ctx), sandbox_id, path)
        except BayError as exc:
            raise ResourceError(exc.message) from exc
        return read.content

    # In their own module, which builds on this one's helpers.
    from bay_mcp.mcp.browser_tools import register_browser_tools
    from bay_mcp.mcp.port_tools import register_port_tools
    from bay_mcp.mcp.snapshot_tools import register_snapshot_tools

    register_browser_tools(mcp)
    register_snapshot_tools(mcp)
    register_port_tools(mcp)
    return mcp
