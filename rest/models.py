"""Bodies and queries of `/v1`: the routes parse with these, and `/openapi.json` is
generated from them. Field names are the contract's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bay_mcp.limits import (
    DEFAULT_PROFILE,
    DEFAULT_TIMEOUT_S,
    MAX_CARGO_SIZE_MB,
    MAX_COMMAND_CHARS,
    MAX_EGRESS_LOG_PAGE,
    MAX_PATH_CHARS,
    MAX_SECRET_VALUE_CHARS,
    MAX_WRITE_CHARS,
)
from bay_mcp.services import process_inputs, runs
from bay_mcp.services.cargos import CargoView
from bay_mcp.services.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest
from bay_mcp.services.sandbox_inputs import (
    CargoName,
    ProfileName,
    SecretBinding,
    TtlExtension,
    TtlSeconds,
)
from bay_mcp.services.views import (
    MAX_SNAPSHOT_NAME_CHARS,
    DirectoryEntry,
    ExposedPort,
    PoolReport,
    SandboxStatus,
    SandboxSummary,
)
from bay_mcp.settings import GcTaskName
from ship.egress.rules import EgressPolicy
from ship.protocol import (
    MAX_BROWSER_ACTIONS,
    FilesChanged,
    Language,
    ResourceReport,
    RichOutput,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests ---------------------------------------------------------------------------


class CreateSandboxBody(Strict):
    profile: ProfileName = DEFAULT_PROFILE
    cargo_id: CargoName = None
    ttl: TtlSeconds = Field(None, description="seconds; null/0: none")
    env: dict[str, str] | None = Field(
        None,
        description="environment variables for every process in the sandbox, over the "
        "profile's; names [A-Za-z_][A-Za-z0-9_]*, not PATH, HOME or SHIP_*",
    )
    egress: EgressPolicy | None = Field(
        None, description="where its code may connect, narrowing the profile's policy"
    )
    secrets: list[SecretBinding] | None = Field(
        None,
        description="stored secrets bound to hosts: the sandbox sees a placeholder, the "
        "egress proxy sends the value to those hosts only",
    )


class ExtendTtlBody(Strict):
    extend_by: TtlExtension = Field(description="seconds to add")


# The run bodies take their rules from the service's run requests (services/runs.py).


class ExecAnnotation(Strict):
    description: runs.Description = Field(None, description="kept in the history")
    tags: runs.Tags = Field(None, description="comma-separated")
    include_code: bool = Field(False, description="echo the code or command in the answer")


class PythonExecBody(ExecAnnotation):
    code: runs.Code
    timeout: runs.Timeout = DEFAULT_TIMEOUT_S


class CodeExecBody(ExecAnnotation):
    language: Language = Field(
        "python", description="python, typescript, javascript or r (the profile's languages)"
    )
    code: runs.Code
    timeout: runs.Timeout = DEFAULT_TIMEOUT_S


class ShellExecBody(ExecAnnotation):
    command: runs.Command = Field(min_length=1)
    timeout: runs.Timeout = DEFAULT_TIMEOUT_S
    cwd: runs.WorkingDirectory | None = None


class BrowserLearnFields(ExecAnnotation):
    learn: bool = Field(
        False, description="a learning source: the history entry is tagged learn; keeps a trace"
    )
    include_trace: bool = Field(
        False, description="keep the run's trace (commands and outcomes); the answer's trace_ref"
    )


class BrowserExecBody(BrowserLearnFields):
    cmd: str = Field(
        min_length=1,
        max_length=MAX_COMMAND_CHARS,
        description="one command: open <url>, snapshot [-i], click <@ref|selector>, "
        "fill <@ref> <text>, type <@ref> <text>, press <key>, select <@ref> <value>, "
        "screenshot [path], get text|title|url [@ref], wait <ms|selector>, back, forward, "
        "reload, eval <js>, close",
    )
    timeout: runs.Timeout = DEFAULT_TIMEOUT_S


class BrowserBatchBody(BrowserLearnFields):
    commands: list[str] = Field(
        min_length=1, max_length=MAX_BROWSER_ACTIONS, description="commands, run in order"
    )
    timeout: runs.Timeout = DEFAULT_TIMEOUT_S
    stop_on_error: bool = True


class BrowserSkillRunBody(Strict):
    timeout: runs.Timeout = DEFAULT_TIMEOUT_S


class ExposePortBody(Strict):
    port: int = Field(ge=1, le=65535, description="the TCP port the server listens on")


class PortList(BaseModel):
    ports: list[ExposedPort]


# The process bodies take their rules from the service's requests (services/process_inputs.py).


class ProcessStartBody(Strict):
    command: runs.Command = Field(min_length=1, description="run with bash -lc")
    cwd: runs.WorkingDirectory = Field(".", description="relative to /workspace")
    env: process_inputs.Environment = Field(
        None, description="variables for this process, over the sandbox's"
    )
    name: process_inputs.ProcessName = Field(None, description="a label for lists")
    pty: bool = Field(False, description="run on a terminal (keys as input, a screen)")


class ProcessOutputQuery(Strict):
    since: process_inputs.Since = Field(
        None, description="a byte offset: the previous answer's next_offset; none: the oldest kept"
    )
    wait: process_inputs.WaitSeconds = Field(
        0, description="seconds to wait for output (or the end) when none is new"
    )


class ProcessInputBody(Strict):
    text: process_inputs.InputText = Field(None, description="sent first, as is")
    keys: process_inputs.Keys = Field(None, description="named keys, sent after the text")
    close_stdin: bool = Field(False, description="then close its input (EOF)")


class ProcessSignalBody(Strict):
    signal: process_inputs.Signal = "SIGTERM"


class ProcessWaitBody(Strict):
    timeout: process_inputs.WaitTimeout = Field(
        DEFAULT_TIMEOUT_S, description="seconds; still running then: answered as it is"
    )


class TerminalResizeBody(Strict):
    rows: process_inputs.Rows
    cols: process_inputs.Cols


class TerminalLinkBody(Strict):
    process_id: str | None = Field(
        None, description="The process whose terminal to open; null: a new login shell"
    )


class BrowserStepResult(BaseModel):
    """One command of a batch, in the fields of a single command's answer."""

    kind: str
    success: bool
    output: str
    error: str | None
    exit_code: int
    execution_id: str
    execution_time_ms: int
    screenshot: str | None = Field(None, description="PNG, base64 (screenshot commands)")


class BrowserBatchResponse(BaseModel):
    results: list[BrowserStepResult]
    total_steps: int
    completed_steps: int = Field(description="the commands run, the failing one included")
    success: bool
    duration_ms: int
    execution_id: str = Field(description="the batch's entry in the history")
    url: str | None = None
    title: str | None = None
    changes: list[str] = Field(default_factory=list)
    launched: bool = False
    trace_ref: str | None = Field(None, description="the stored trace (learn or include_trace)")


class BrowserTrace(BaseModel):
    """A browser run's trace: its commands in order, each step with its outcome."""

    model_config = ConfigDict(extra="allow")

    trace_ref: str
    execution_id: str
    sandbox_id: str
    learn: bool
    success: bool
    commands: list[str]
    steps: list[dict[str, Any]]
    url: str | None = None
    title: str | None = None


class HistoryQuery(Strict):
    exec_type: str | None = None
    success_only: bool = False
    tags: str | None = Field(None, max_length=1024)
    has_notes: bool | None = None
    has_description: bool | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0)


class EgressLogQuery(Strict):
    limit: int = Field(50, ge=1, le=MAX_EGRESS_LOG_PAGE)
    before: int | None = Field(None, ge=1, description="entries older than this id")


class LastQuery(Strict):
    exec_type: str | None = None


class AnnotateBody(Strict):
    description: runs.Description = None
    tags: runs.Tags = None
    notes: runs.Notes = None


class WriteFileBody(Strict):
    path: str = Field(max_length=MAX_PATH_CHARS)
    content: str = Field(max_length=MAX_WRITE_CHARS)


class SetSecretBody(Strict):
    value: str = Field(
        min_length=1,
        max_length=MAX_SECRET_VALUE_CHARS,
        description="the secret's value: stored sealed, never returned nor shown to sandboxes",
    )


class CreateSnapshotBody(Strict):
    name: str | None = Field(
        None, max_length=MAX_SNAPSHOT_NAME_CHARS, description="a label to recognise it by"
    )


class ForkBody(Strict):
    snapshot_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="copy this snapshot's files; null: the sandbox's files as they are now",
    )


class CreateCargoBody(Strict):
    size_limit_mb: int | None = Field(None, ge=1, le=MAX_CARGO_SIZE_MB)


class GcRunBody(Strict):
    tasks: list[GcTaskName] | None = Field(
        None, description="default: every configured task; singular names accepted too"
    )


class PageQuery(Strict):
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(None, max_length=512)

    def page(self) -> PageRequest:
        return PageRequest(limit=self.limit, cursor=self.cursor)


class SandboxListQuery(PageQuery):
    status: SandboxStatus | None = None


class CargoListQuery(PageQuery):
    managed: bool = False


class PathQuery(Strict):
    path: str = Field(max_length=MAX_PATH_CHARS)


class DirectoryQuery(Strict):
    path: str = Field(".", max_length=MAX_PATH_CHARS)


class ProfilesQuery(Strict):
    detail: bool = False


# -- responses --------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


class HealthBody(BaseModel):
    status: Literal["healthy", "unhealthy"]
    version: str
    checks: dict[str, str]
    pool: dict[str, PoolReport] = Field(
        default_factory=dict, description="the warm pool of each profile that keeps one"
    )


class ProfileResources(BaseModel):
    cpus: float
    memory: str


class ProfileItem(BaseModel):
    id: str
    image: str
    resources: ProfileResources
    capabilities: list[str]
    idle_timeout: int
    description: str | None = None


class ProfileList(BaseModel):
    items: list[ProfileItem]


class SandboxPage(BaseModel):
    items: list[SandboxSummary]
    next_cursor: str | None


class CargoPage(BaseModel):
    items: list[CargoView]
    next_cursor: str | None


class ImageOutput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    png: str = Field(alias="image/png", description="base64 PNG")


class PythonOutput(BaseModel):
    text: str
    images: list[ImageOutput] = Field(
        description="the PNG images, an SVG's raster included (kept for existing clients; "
        "`outputs` has every kind)"
    )
    outputs: list[RichOutput] = Field(
        default_factory=list,
        description="what the code displayed beyond plain text, in order, each with its "
        "MIME type: images, HTML (with its Markdown and saved file), Markdown, LaTeX, JSON, "
        "and a matplotlib figure's chart as data",
    )


class PythonData(BaseModel):
    execution_count: int | None
    output: PythonOutput


class PythonExecResponse(BaseModel):
    success: bool
    output: str
    error: str | None
    data: PythonData
    execution_id: str
    execution_time_ms: int
    resources: ResourceReport | None = Field(
        None, description="what the run cost and, if it was killed, why"
    )
    code: str | None = Field(None, description="the code run, when include_code was set")
    files_changed: FilesChanged | None = Field(
        None, description="files under /workspace the run created, changed or deleted"
    )
    notice: str | None = Field(
        None,
        description="what else to know: the kernel restarted, or the session was replaced "
        "because the previous one stopped answering (its memory lost, its files kept)",
    )


class CodeExecResponse(PythonExecResponse):
    language: Language


class ShellExecResponse(BaseModel):
    success: bool
    output: str
    error: str | None
    exit_code: int | None
    execution_id: str
    execution_time_ms: int
    resources: ResourceReport | None = Field(
        None, description="what the run cost and, if it was killed, why"
    )
    code: str | None = Field(None, description="the command run, when include_code was set")
    command: str = Field(description="the command line that was run")
    files_changed: FilesChanged | None = Field(
        None, description="files under /workspace the run created, changed or deleted"
    )
    notice: str | None = Field(
        None,
        description="what else to know: the kernel restarted, or the session was replaced "
        "because the previous one stopped answering (its memory lost, its files kept)",
    )


class FileContent(BaseModel):
    content: str


class StatusOk(BaseModel):
    status: Literal["ok"] = "ok"


class StatusStopped(BaseModel):
    status: Literal["stopped"] = "stopped"


class Uploaded(BaseModel):
    status: Literal["ok"] = "ok"
    path: str
    size: int


class DirectoryBody(BaseModel):
    entries: list[DirectoryEntry]
