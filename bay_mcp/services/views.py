"""What services return: pydantic models that surfaces render (MCP structured content,
REST bodies). Field names follow the `/v1` contract. Where Ship's protocol already has
the shape (a file's text, a run's cost), the service returns Ship's model; a run's
result is in `services/runs.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ship.egress.rules import EgressPolicy
from ship.protocol import FilesChanged, ProcessInfo, ResourceReport
from ship.protocol import FileText as FileText  # FileService.read_text returns Ship's

# paused: idle a while, frozen with its memory kept; the next call thaws it first.
# unhealthy: its runtime stopped answering; the next call replaces its session.
SandboxStatus = Literal["idle", "starting", "ready", "paused", "unhealthy", "failed", "expired"]


class ContainerView(BaseModel):
    name: str
    runtime_type: str
    status: str
    version: str | None = None
    capabilities: list[str]
    healthy: bool


class BoundSecret(BaseModel):
    secret: str
    env: str = Field(description="the variable holding its placeholder")
    hosts: list[str] = Field(description="the hosts its value is sent to")


class SandboxSummary(BaseModel):
    id: str
    status: SandboxStatus
    profile: str
    cargo_id: str
    capabilities: list[str]
    created_at: datetime
    expires_at: datetime | None = Field(description="null: no TTL, lives until deleted")
    idle_expires_at: datetime | None = Field(
        description="when an idle session will be stopped; null when no session runs"
    )
    env: list[str] = Field(
        default_factory=list,
        description="names of the environment variables its processes get (values are never shown)",
    )
    egress: EgressPolicy = Field(
        default_factory=EgressPolicy,
        description="where its code may connect: its own policy, else its profile's",
    )
    secrets: list[BoundSecret] = Field(
        default_factory=list, description="stored secrets bound to hosts (never their values)"
    )
    last_stop: str | None = Field(
        None,
        description="why Bay last stopped its session on its own (idle, paused memory over "
        "the host's limit), until a session starts again",
    )


class SandboxView(SandboxSummary):
    """One sandbox, with its running container (null when idle)."""

    containers: list[ContainerView] | None = None


class ProfileView(BaseModel):
    id: str
    image: str
    cpus: float
    memory_mb: int
    capabilities: list[str]
    languages: list[str] = Field(description="What run_code runs in its sandboxes")
    idle_timeout_seconds: int
    description: str
    egress: EgressPolicy = Field(
        default_factory=EgressPolicy, description="where its sandboxes may connect"
    )


class BrowserStepView(BaseModel):
    kind: str
    success: bool
    output: str = ""
    error: str | None = None
    screenshot: str | None = Field(None, description="PNG, base64 (screenshot steps)")
    execution_time_ms: int = 0


class BrowserExecResult(BaseModel):
    """A browser call: upstream's result fields, with the steps and page state beside."""

    success: bool
    output: str = Field(description="each command's output, in order; the page at the end")
    error: str | None = Field(None, description="the failing command's error")
    exit_code: int = Field(description="0 when every command succeeded, else 1")
    execution_id: str
    execution_time_ms: int
    url: str | None = None
    title: str | None = None
    changes: list[str] = Field(
        default_factory=list,
        description="what happened since the last browser call: tabs, downloads, dialogs, crashes",
    )
    steps: list[BrowserStepView] = Field(default_factory=list)
    launched: bool = Field(False, description="this call started the browser")
    trace_ref: str | None = Field(
        None, description="the run's stored trace (learn or include_trace): browser/traces/{ref}"
    )


class TextFile(BaseModel):
    """A text file as a model reads it: the content, with a note when it was cut."""

    kind: Literal["text"] = "text"
    path: str
    content: str


# The files a model reads as pictures (read_file), by suffix, with their image subtype.
IMAGE_TYPES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp"}


class ImageFile(BaseModel):
    kind: Literal["image"] = "image"
    path: str
    mime_type: str
    data: str = Field(description="base64")


class BinaryFile(BaseModel):
    """A file that is neither text nor a small image: described, not returned."""

    kind: Literal["binary"] = "binary"
    path: str
    mime_type: str
    size: int | None


FileRead = TextFile | ImageFile | BinaryFile


class ResourceContent(BaseModel):
    """A workspace path as an MCP resource: text, bytes, or a directory's JSON listing."""

    content: str | bytes
    mime_type: str


class FileWritten(BaseModel):
    path: str
    size: int


class FileEdited(BaseModel):
    path: str
    replacements: int
    size: int


class DirectoryEntry(BaseModel):
    name: str
    path: str
    type: Literal["file", "directory", "symlink", "other"]
    is_file: bool
    is_dir: bool
    size: int
    modified_time: str | None = None


class DirectoryListing(BaseModel):
    path: str
    entries: list[DirectoryEntry]


@dataclass(frozen=True)
class Annotation:
    """What the caller says of a run, kept with it in the execution history."""

    description: str | None = None
    tags: str | None = None


class HistoryEntry(BaseModel):
    id: str
    session_id: str | None
    exec_type: str
    code: str
    command: str | None = Field(
        None, description="a shell run's command line (its `code`); null for other runs"
    )
    success: bool
    exit_code: int | None
    timed_out: bool
    execution_time_ms: int
    output: str
    error: str | None
    description: str | None
    tags: str
    notes: str | None
    resources: ResourceReport | None = None
    files_changed: FilesChanged | None = Field(
        None, description="the files in /workspace the run made, changed or deleted"
    )
    pictures: int = Field(
        0, description="pictures the run displayed that its entry keeps (a few, not the largest)"
    )
    created_at: datetime


class PoolReport(BaseModel):
    """One profile's warm pool, as /health shows it."""

    target: int = Field(description="members the profile keeps ready (warm_pool_size)")
    ready: int
    starting: int
    hits: int = Field(description="creates served from the pool since Bay started")
    misses: int = Field(description="creates that found it empty and started cold")
    last_error: str | None = Field(None, description="why the last refill failed, if it did")


class HistoryPage(BaseModel):
    entries: list[HistoryEntry]
    total: int


# -- snapshots and forks (services/snapshots.py) ------------------------------------

MAX_SNAPSHOT_NAME_CHARS = 128


class SnapshotView(BaseModel):
    id: str
    sandbox_id: str
    name: str | None
    size_bytes: int = Field(description="bytes of the files in the snapshot")
    created_at: datetime


class SnapshotTaken(SnapshotView):
    copy_ms: int = Field(description="how long the copy took")
    kernel_state_saved: bool = Field(False, description="always false: only files are saved")
    message: str


class SnapshotList(BaseModel):
    sandbox_id: str
    snapshots: list[SnapshotView]


class SnapshotRestored(BaseModel):
    sandbox_id: str
    snapshot_id: str
    size_bytes: int = Field(description="bytes of the files now in /workspace")
    copy_ms: int
    kernel_restarted: bool = Field(
        True, description="always true: the session was stopped; the next call starts afresh"
    )
    message: str


class ForkedSandbox(SandboxView):
    """The new sandbox, and where its files came from."""

    forked_from: str = Field(description="the sandbox whose files were copied")
    snapshot_id: str | None = Field(description="the snapshot copied; null: the files as they were")
    size_bytes: int
    copy_ms: int
    message: str


# -- exposed ports (services/ports.py) ---------------------------------------------


class ExposedPort(BaseModel):
    sandbox_id: str
    port: int
    url: str = Field(
        description="Where a person opens the server: Bay's proxy with a signed token (HTTP), "
        "or a loopback forward (stdio)"
    )
    local_url: str = Field(description="The same server for the sandbox's own browser")
    expires_at: datetime | None = Field(
        description="When the signed url stops working (list_ports gives a fresh one); "
        "null: while the port stays exposed"
    )
    created_at: datetime


class PortList(BaseModel):
    ports: list[ExposedPort]


class PortUrl(BaseModel):
    port: int
    url: str = Field(description="the exposed port's preview URL (expose_port made it)")


class ProcessView(ProcessInfo):
    """A background process as Ship reports it, with the URLs of its exposed ports."""

    urls: list[PortUrl] = Field(
        default_factory=list, description="its listening ports that are exposed, with URLs"
    )


class ProcessList(BaseModel):
    processes: list[ProcessView] = Field(description="oldest first; ended ones kept a while")
    note: str | None = Field(
        None, description="why there is none: the sandbox has no session (its processes ended)"
    )


class TerminalLink(BaseModel):
    sandbox_id: str
    process_id: str | None = Field(
        description="The process whose terminal the URL opens; null: a new login shell each time"
    )
    url: str = Field(
        description="A WebSocket URL (ws:// or wss://) with a signed token: xterm.js or any "
        "WebSocket client attaches with it, no API key needed"
    )
    expires_at: datetime = Field(
        description="When the URL stops opening (connections open then stay open)"
    )


class EgressLogItem(BaseModel):
    id: int
    time: datetime
    host: str
    port: int
    method: str
    bytes: int
    allowed: bool
    reason: str = Field(description="the rule that allowed it, or why it was refused")


class EgressLog(BaseModel):
    sandbox_id: str
    items: list[EgressLogItem] = Field(description="newest first")
    next_before: int | None = Field(
        description="pass as `before` for older entries; null: none are older"
    )
