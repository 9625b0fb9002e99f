"""The sandbox view: `show_sandbox` and the MCP Apps `ui://` page a host shows with it.

`show_sandbox` gathers what a person wants to see of one sandbox (its files, its last
runs, its open previews) through the same services as the other tools. A host that
negotiated MCP Apps (`io.modelcontextprotocol/ui`) renders the tool's `ui://` page in
a sandboxed iframe and hands it the result; the page's buttons call Bay's tools back
through the host, so it reads and acts through MCP only. A client without Apps gets
the same facts as text.

The page is `sandbox_view.html` with the app side of npm `@modelcontextprotocol/ext-apps`
(its self-contained `app-with-deps.js`, vendored in `vendor/` by
`scripts/vendor-ext-apps`) inlined at load: a host's iframe may load nothing else.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Annotated, Any

from mcp.server.apps import Apps, client_supports_apps
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ImageContent, TextContent
from mcp_types import ToolAnnotations as Hints
from pydantic import BaseModel, Field

from bay_mcp.mcp.arguments import ExecutionId, SandboxId
from bay_mcp.mcp.plumbing import Tool, call, caller, frame_origin
from bay_mcp.services.views import IMAGE_TYPES, SandboxView

VIEW_URI = "ui://bay/sandbox-view.html"
RUNS_SHOWN = 5
# Heads, not whole runs: the view and the model read a summary; get_execution has the rest.
CODE_HEAD = 1_000
OUTPUT_HEAD = 2_000
FILES_SHOWN = 200


class FileFact(BaseModel):
    name: str
    type: str = Field(description="file, directory, symlink or other")
    size: int
    image: bool = Field(description="an image read_file returns as a picture")


class RunFact(BaseModel):
    execution_id: str
    exec_type: str
    code: str = Field(description=f"the code or command, its first {CODE_HEAD} characters")
    success: bool
    output: str = Field(description=f"the output's first {OUTPUT_HEAD} characters")
    error: str | None
    pictures: int = Field(description="pictures it displayed: show_run_pictures gives them")
    execution_time_ms: int
    created_at: datetime


class PreviewFact(BaseModel):
    port: int
    url: str
    framed: bool = Field(
        description="the host was told it may frame this URL (Bay's public URL is known)"
    )


class SandboxFacts(BaseModel):
    """What show_sandbox shows: the sandbox, its files, its last runs, its previews."""

    sandbox: SandboxView
    files: list[FileFact] | None = Field(
        description="the top level of /workspace; null when only starting the sandbox "
        "could list it (list_files does)"
    )
    files_total: int = 0
    runs: list[RunFact] = Field(description=f"the last {RUNS_SHOWN} runs, newest first")
    runs_total: int
    previews: list[PreviewFact]


async def show_sandbox(
    ctx: Context[Any, Any], sandbox_id: SandboxId
) -> Annotated[CallToolResult, SandboxFacts]:
    """Show a sandbox to the user: its files, its last runs with their output, and its
    open previews. Hosts with MCP Apps display it as an interactive view; others get
    the same facts as text. It starts nothing."""
    bay, owner = await caller(ctx)
    sandbox = await call(bay.sandboxes.get(owner, sandbox_id))
    history, ports = await call(
        asyncio.gather(
            bay.history.list(owner, sandbox_id, limit=RUNS_SHOWN),
            bay.ports.list(owner, sandbox_id),
        )
    )
    files: list[FileFact] | None = None
    total = 0
    # Showing starts nothing: a stopped sandbox's files are read from its cargo.
    listing = await call(bay.files.listing_without_starting(owner, sandbox_id, "."))
    if listing is not None:
        entries = sorted(listing.entries, key=lambda entry: (not entry.is_dir, entry.name))
        total = len(entries)
        files = [
            FileFact(
                name=entry.name,
                type=entry.type,
                size=entry.size,
                image=entry.is_file and PurePosixPath(entry.name).suffix.lower() in IMAGE_TYPES,
            )
            for entry in entries[:FILES_SHOWN]
        ]
    framing = frame_origin(bay.ports.public_url)
    facts = SandboxFacts(
        sandbox=sandbox,
        files=files,
        files_total=total,
        runs=[
            RunFact(
                execution_id=entry.id,
                exec_type=entry.exec_type,
                code=entry.code[:CODE_HEAD],
                success=entry.success,
                output=entry.output[:OUTPUT_HEAD],
                error=entry.error,
                pictures=entry.pictures,
                execution_time_ms=entry.execution_time_ms,
                created_at=entry.created_at,
            )
            for entry in history.entries
        ],
        runs_total=history.total,
        previews=[
            PreviewFact(
                port=port.port,
                url=port.url,
                framed=framing is not None and port.url.startswith(framing + "/"),
            )
            for port in ports
        ],
    )
    text = summary_text(facts) if client_supports_apps(ctx) else facts_text(facts)
    return CallToolResult(
        content=[TextContent(text=text)], structured_content=facts.model_dump(mode="json")
    )


async def show_run_pictures(
    ctx: Context[Any, Any], sandbox_id: SandboxId, execution_id: ExecutionId
) -> CallToolResult:
    """The pictures a run displayed, as its history keeps them (for the sandbox view)."""
    bay, owner = await caller(ctx)
    pictures = await call(bay.history.pictures(owner, sandbox_id, execution_id))
    blocks: list[TextContent | ImageContent] = [
        TextContent(text=f"{len(pictures)} pictures of run {execution_id}")
    ]
    blocks.extend(ImageContent(data=data, mime_type=mime_type) for data, mime_type in pictures)
    return CallToolResult(content=blocks)


def summary_text(facts: SandboxFacts) -> str:
    """What the model reads when the person sees the view: the gist, not the listing."""
    sandbox = facts.sandbox
    files = f"{facts.files_total} files" if facts.files is not None else "files not listed"
    return (
        f"Showing sandbox {sandbox.id} ({sandbox.status}, profile {sandbox.profile}) to the "
        f"user: {files}, {facts.runs_total} runs, {len(facts.previews)} open previews. "
        "The structured result has the details."
    )


def facts_text(facts: SandboxFacts) -> str:
    """The facts of the view as text, for a client without MCP Apps."""
    sandbox = facts.sandbox
    expires = sandbox.expires_at.isoformat() if sandbox.expires_at else "never (until deleted)"
    lines = [
        f"Sandbox {sandbox.id}: {sandbox.status}, profile {sandbox.profile}, expires {expires}."
    ]
    if facts.files is None:
        lines.append("Files: not listed without starting it (list_files starts it).")
    else:
        lines.append(f"Files in /workspace ({facts.files_total}):")
        lines.extend(_file_line(file) for file in facts.files)
        if facts.files_total > len(facts.files):
            lines.append(f"  … and {facts.files_total - len(facts.files)} more (list_files)")
    lines.append(f"Last runs ({len(facts.runs)} of {facts.runs_total}, newest first):")
    for run in facts.runs:
        outcome = "ok" if run.success else "failed"
        lines.append(
            f"  {run.execution_id} {run.exec_type} {outcome} in {run.execution_time_ms} ms "
            f"at {run.created_at.isoformat()}"
        )
        lines.append(_indented("code", run.code))
        if run.output:
            lines.append(_indented("output", run.output))
        if run.error:
            lines.append(_indented("error", run.error))
    if facts.previews:
        lines.append("Open previews:")
        lines.extend(f"  port {p.port}: {p.url}" for p in facts.previews)
    else:
        lines.append("Open previews: none (expose_port opens one).")
    return "\n".join(lines)


def _file_line(file: FileFact) -> str:
    if file.type == "directory":
        return f"  {file.name}/"
    image = ", an image: read_file shows it" if file.image else ""
    return f"  {file.name}  ({file.size} bytes{image})"


def _indented(label: str, text: str) -> str:
    body = text.rstrip("\n").replace("\n", "\n      ")
    return f"    {label}: {body}"


# -- the page ------------------------------------------------------------------------

LIBRARY_MARK = "/* ext-apps: the vendored library goes here */"
_EXPORTS = re.compile(r"export\s*\{([^}]*)\};?\s*$")


@cache
def view_html() -> str:
    """The view's HTML, with the ext-apps app library inlined as a module that puts
    its exports on `globalThis.McpApps` (an inline module's exports reach nothing)."""
    package = resources.files("bay_mcp.mcp")
    page = (package / "sandbox_view.html").read_text(encoding="utf-8")
    library = (package / "vendor" / "ext-apps-app.js").read_text(encoding="utf-8")
    exports = _EXPORTS.search(library)
    if exports is None:
        raise RuntimeError("vendor/ext-apps-app.js does not end with its export list")
    pairs = [part.split(" as ") for part in exports.group(1).split(",")]
    names = ",".join(f"{pair[-1].strip()}:{pair[0].strip()}" for pair in pairs)
    inlined = library[: exports.start()] + f"globalThis.McpApps={{{names}}};"
    assert "</script" not in inlined.lower(), "the library would close its script element"
    return page.replace(LIBRARY_MARK, inlined)


def apps_extension() -> Apps:
    """The MCP Apps extension with show_sandbox bound to its view."""
    apps = Apps()
    apps.add_html_resource(
        VIEW_URI,
        view_html(),
        name="Sandbox view",
        description="A sandbox's files, last runs and previews, with buttons to act on it",
        prefers_border=True,
    )
    for function, hints in TOOLS:
        apps.tool(
            resource_uri=VIEW_URI,
            # The view's own helpers are for the view, not the model's list.
            visibility=["app"] if function in VIEW_ONLY else None,
            name=function.__name__,
            description=inspect.cleandoc(function.__doc__ or ""),
            annotations=hints,
        )(function)
    return apps


TOOLS = (
    Tool(show_sandbox, Hints(read_only_hint=True, open_world_hint=False)),
    Tool(show_run_pictures, Hints(read_only_hint=True, open_world_hint=False)),
)
VIEW_ONLY = {show_run_pictures}
