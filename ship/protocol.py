"""Ship's wire protocol: every request, response and error code of its HTTP API.

One module, imported by both sides: Ship serialises its answers from these models,
Bay's `ShipClient` parses them back into the same models, and the test fakes are
built from them, so the two sides cannot drift. Only pydantic here: Bay imports it
without Ship's server dependencies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

# The major version must match between Bay and Ship (checked at each session's start).
API_VERSION = "2"
RUNTIME_NAME = "ship"
WORKSPACE_MOUNT = "/workspace"
# Ship's own ceiling on a run's deadline (python, shell, browser). Bay holds its callers
# to a lower limit of its own (`bay_mcp/limits.py`); this one only bounds what Ship
# accepts from any caller.
SHIP_RUN_TIMEOUT_CEILING_S = 3600.0
EXEC_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Capability = Literal["python", "shell", "filesystem", "browser"]

ErrorCode = Literal[
    "validation_error",  # 400: the request does not validate
    "invalid_path",  # 400: a path leaves /workspace or is malformed
    "unauthorized",  # 401: wrong or missing bearer token
    "file_not_found",  # 404: no such file in /workspace
    "not_found",  # 404: no such endpoint
    "method_not_allowed",  # 405
    "capability_not_supported",  # 501: this image has no such capability (no browser)
    "quota_exceeded",  # 429: the cargo's size limit
    "internal_error",  # 500: a bug in Ship
    "resource_exhausted",  # 503: the sandbox is out of processes or threads
    "process_not_found",  # 404: no process of that id (never started, or forgotten)
]
ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)


class Model(BaseModel):
    # Validators are built on first use, not at import: an idle Ship (and Bay) keeps only
    # those of the calls it has served (~5 MB less).
    model_config = ConfigDict(populate_by_name=True, extra="ignore", defer_build=True)

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict this model travels as."""
        return self.model_dump(mode="json", by_alias=True)


# -- errors ------------------------------------------------------------------------------


class ErrorInfo(Model):
    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(Model):
    error: ErrorInfo


# -- health and handshake ----------------------------------------------------------------


# idle: not started, and not to be until a run asks (a cargo's files helper).
KernelState = Literal["starting", "ready", "failed", "idle"]


class Health(Model):
    status: Literal["healthy"] = "healthy"
    version: str = Field(description="the runtime's version (semver)")
    # Bay counts a session as started once the kernel has booted (or failed to: the
    # first exec then says why). A Ship without the field is taken as ready.
    kernel: KernelState = "ready"


class RuntimeInfo(Model):
    name: str
    version: str


class WorkspaceInfo(Model):
    mount_path: str


class CapabilityInfo(Model):
    operations: list[str] = Field(default_factory=list)


class Meta(Model):
    runtime: RuntimeInfo
    api_version: str
    workspace: WorkspaceInfo
    capabilities: dict[str, CapabilityInfo]
    languages: list[str] = Field(
        default_factory=lambda: ["python"],
        description="the languages whose kernels this image has (POST /code/exec)",
    )


# -- what a run cost ---------------------------------------------------------------------

KillReason = Literal["out_of_memory", "timeout", "signal"]


class ResourceReport(Model):
    """What one run cost and, if it was killed, why. A figure that could not be read
    is None, never a guess."""

    cpu_time_ms: int | None = Field(
        None, description="CPU time (user + system) of the run's processes"
    )
    peak_memory_bytes: int | None = Field(
        None, description="peak resident memory of the run's largest process"
    )
    killed: KillReason | None = None
    signal: str | None = Field(None, description="the signal that killed it, e.g. SIGKILL")
    oom_kills: int | None = Field(
        None,
        description="processes of the sandbox the kernel killed for memory during the run "
        "(a shell may go on after one of its commands was)",
    )
    memory_limit_bytes: int | None = Field(
        None, description="the sandbox's memory limit, when it could be read"
    )

    def kill_summary(self) -> str | None:
        """Why the run was killed, as a model should read it; None if it was not."""
        if self.killed == "out_of_memory":
            limit = self.memory_limit_bytes
            used = f"more than {megabytes(limit)}" if limit else "more memory than allowed"
            return f"was killed for using {used}, the sandbox's memory limit"
        if self.killed == "timeout":
            return "was stopped at its time limit"
        if self.killed == "signal":
            return f"was killed by {self.signal or 'a signal'}"
        return None

    def oom_summary(self) -> str | None:
        """Processes killed for memory in a run that itself went on; None if none was."""
        if self.killed == "out_of_memory" or not self.oom_kills:
            return None
        limit = self.memory_limit_bytes
        over = f"more than {megabytes(limit)}" if limit else "too much memory"
        count = "1 process was" if self.oom_kills == 1 else f"{self.oom_kills} processes were"
        return f"{count} killed for using {over}, the sandbox's memory limit"

    def usage_summary(self) -> str | None:
        """`CPU 1.20 s, peak memory 45 MB`: the figures that could be read."""
        parts = []
        if self.cpu_time_ms is not None:
            parts.append(f"CPU {self.cpu_time_ms / 1000:.2f} s")
        if self.peak_memory_bytes is not None:
            parts.append(f"peak memory {megabytes(self.peak_memory_bytes)}")
        return ", ".join(parts) or None


def megabytes(size: int) -> str:
    """Bytes as a person reads them: `1,024 MB` (MiB, as Docker counts limits)."""
    return f"{size / (1 << 20):,.0f} MB"


# -- what a run changed in /workspace ----------------------------------------------------

ChangeKind = Literal["created", "modified", "deleted"]


class FileChange(Model):
    path: str = Field(description="relative to /workspace")
    change: ChangeKind
    size: int | None = Field(None, description="bytes now; null when deleted")


class FilesChanged(Model):
    files: list[FileChange] = Field(default_factory=list, description="at most 100, by path")
    total: int = Field(0, description="how many changed, listed or not")
    complete: bool = Field(True, description="false when the workspace could not be watched whole")


# -- live output -------------------------------------------------------------------------
# A python or shell exec asked with `Accept: application/x-ndjson` answers a line per
# event: output as the run makes it, then its result (or the error that ended it).

NDJSON = "application/x-ndjson"


class OutputEvent(Model):
    kind: Literal["output"] = "output"
    text: str


class ErrorEvent(Model):
    kind: Literal["error"] = "error"
    error: ErrorInfo


# -- python ------------------------------------------------------------------------------


class PythonExecRequest(Model):
    code: str
    timeout: float = Field(30.0, gt=0, le=SHIP_RUN_TIMEOUT_CEILING_S)


# The languages a run may be in. TypeScript and JavaScript share one Deno kernel (a
# JavaScript run is a TypeScript kernel's run); Python and R have one kernel each.
Language = Literal["python", "typescript", "javascript", "r"]
LANGUAGES: tuple[Language, ...] = get_args(Language)


class CodeExecRequest(Model):
    language: Language = "python"
    code: str
    timeout: float = Field(30.0, gt=0, le=SHIP_RUN_TIMEOUT_CEILING_S)


class CodeInterruptRequest(Model):
    language: Language = "python"


class PythonError(Model):
    ename: str
    evalue: str
    traceback: list[str]  # every error has one, empty when the kernel gave none


class PngImage(Model):
    png: str = Field(alias="image/png", description="base64")


# -- rich outputs ------------------------------------------------------------------------
# What a run displayed beyond plain text, from any kernel's display_data and
# execute_result (Jupyter's MIME bundles): images, HTML, Markdown, JSON, LaTeX, and the
# data of a matplotlib chart, which Ship's kernel guard adds to a figure's bundle under
# CHART_MIME. `ship/rich_output.py` turns a bundle into a RichOutput.

CHART_MIME = "application/vnd.bay.chart+json"
# A number; a date, time or category as text; None where the value is not finite.
ChartValue = float | str | None
ChartScale = Literal[
    "linear", "log", "symlog", "logit", "asinh", "function", "functionlog", "datetime",
    "categorical",
]  # fmt: skip


class PointSeries(Model):
    label: str
    points: list[tuple[ChartValue, ChartValue]] = Field(
        description="(x, y) pairs; a long series is sampled evenly, its ends kept"
    )
    point_count: int = Field(description="how many points the series has, kept or not")


class Bar(Model):
    label: str = Field(description="the category, from the axis' tick labels")
    group: str = Field(description="the bar group (a legend entry)")
    value: float | None


class PieSlice(Model):
    label: str
    angle: float = Field(description="degrees")
    radius: float
    fraction: float = Field(description="its share of the whole pie, 0 to 1")


class BoxStats(Model):
    label: str
    min: float | None = Field(description="the lower whisker's end")
    first_quartile: float | None
    median: float | None
    third_quartile: float | None
    max: float | None = Field(description="the upper whisker's end")
    outliers: list[float] = Field(default_factory=list)


class ChartBase(Model):
    title: str | None = None
    truncated: bool = Field(False, description="elements or points were left out (bounded)")


class Axes2D(ChartBase):
    x_label: str | None = None
    y_label: str | None = None
    x_unit: str | None = Field(None, description="from the label: 'Time (s)' or 'Time [s]'")
    y_unit: str | None = None
    x_scale: ChartScale | None = None
    y_scale: ChartScale | None = None


class PointChart(Axes2D):
    type: Literal["line", "scatter"]
    x_ticks: list[ChartValue] = Field(default_factory=list)
    x_tick_labels: list[str] = Field(default_factory=list)
    y_ticks: list[ChartValue] = Field(default_factory=list)
    y_tick_labels: list[str] = Field(default_factory=list)
    elements: list[PointSeries] = Field(default_factory=list)


class BarChart(Axes2D):
    type: Literal["bar"]
    orientation: Literal["vertical", "horizontal"] = "vertical"
    elements: list[Bar] = Field(default_factory=list)


class BoxAndWhiskerChart(Axes2D):
    type: Literal["box_and_whisker"]
    elements: list[BoxStats] = Field(default_factory=list)


class PieChart(ChartBase):
    type: Literal["pie"]
    elements: list[PieSlice] = Field(default_factory=list)


class UnknownChart(Axes2D):
    type: Literal["unknown"]


AxesChart = Annotated[
    PointChart | BarChart | BoxAndWhiskerChart | PieChart | UnknownChart,
    Field(discriminator="type"),
]


class CompositeChart(ChartBase):
    """A figure of several axes: one chart each."""

    type: Literal["composite_chart"]
    elements: list[AxesChart] = Field(default_factory=list)


Chart = Annotated[
    PointChart | BarChart | BoxAndWhiskerChart | PieChart | UnknownChart | CompositeChart,
    Field(discriminator="type"),
]


class RichOutput(Model):
    """One display of a run beyond plain text, with its MIME type."""

    mime_type: str = Field(
        description="image/png, image/jpeg, image/gif, image/webp, image/svg+xml, "
        "text/html, text/markdown, text/latex or application/json"
    )
    data: JsonValue = Field(
        description="base64 for a raster image; the source text for SVG, HTML, Markdown "
        "and LaTeX; the value itself for JSON"
    )
    text: str | None = Field(
        None,
        description="how it reads as text, where that differs from data: HTML as "
        "Markdown (tables as Markdown tables), JSON indented",
    )
    png: str | None = Field(None, description="an SVG rasterised to PNG, base64")
    path: str | None = Field(None, description="where the HTML was saved, relative to /workspace")
    chart: Chart | None = Field(None, description="a matplotlib figure's chart, as data")
    offset: int = Field(0, description="where in the run's text output it was displayed")
    replaces: int = Field(
        0,
        description="characters of the text output, from offset, that are its plain-text "
        "form (a DataFrame's repr): a reader shown this output may skip them",
    )

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")

    @property
    def readable(self) -> str | None:
        """The output as text (None for an image): `text`, else data that is text."""
        if self.text is not None:
            return self.text
        return self.data if isinstance(self.data, str) and not self.is_image else None


class PythonExecResult(Model):
    success: bool
    output: str = ""
    error: PythonError | None = None
    execution_count: int | None = None
    # Filled by Ships before rich outputs only; a PNG now travels in `outputs`.
    images: list[PngImage] = Field(default_factory=list)
    outputs: list[RichOutput] = Field(default_factory=list)
    truncated: bool = False
    timed_out: bool = False
    kernel_restarted: bool = False
    notice: str | None = None
    execution_time_ms: int = 0
    resources: ResourceReport | None = None
    files_changed: FilesChanged | None = None


class InterruptResult(Model):
    interrupted: bool


# -- shell -------------------------------------------------------------------------------


class ShellExecRequest(Model):
    command: str = Field(min_length=1)
    timeout: float = Field(30.0, gt=0, le=SHIP_RUN_TIMEOUT_CEILING_S)
    cwd: str = "."
    # Names the run so that POST /shell/cancel can kill it.
    exec_id: str | None = Field(None, pattern=EXEC_ID_PATTERN)

    @field_validator("command")
    @classmethod
    def _no_nul(cls, command: str) -> str:
        if "\x00" in command:
            raise ValueError("a command cannot contain a NUL byte")
        return command


class ShellExecResult(Model):
    success: bool
    exit_code: int | None
    output: str = ""
    truncated: bool = False
    timed_out: bool = False
    execution_time_ms: int = 0
    resources: ResourceReport | None = None
    files_changed: FilesChanged | None = None


class ShellCancelRequest(Model):
    exec_id: str = Field(pattern=EXEC_ID_PATTERN)


class CancelResult(Model):
    cancelled: bool


# -- filesystem --------------------------------------------------------------------------


class FileText(Model):
    path: str
    content: str
    size: int
    total_lines: int
    truncated: bool


class WriteFileRequest(Model):
    path: str
    content: str


class MoveRequest(Model):
    source: str
    destination: str


class FileWritten(Model):
    status: Literal["ok"] = "ok"
    path: str
    size: int


class FileDeleted(Model):
    status: Literal["ok"] = "ok"
    path: str


EntryType = Literal["file", "directory", "symlink", "other"]


class DirectoryEntry(Model):
    name: str
    path: str
    type: EntryType
    size: int
    modified_time: str | None = None


class DirectoryListing(Model):
    path: str
    entries: list[DirectoryEntry]


# Details Ship puts on a `validation_error` so callers need not read its message:
# a text read of a binary file, and a file operation on a directory.
BINARY_DETAIL = "binary"
DIRECTORY_DETAIL = "is_directory"
SIZE_DETAIL = "size"


# -- browser -----------------------------------------------------------------------------
# One typed action per thing an agent does to a page. Bay turns its MCP tools and the
# REST command language into these; Ship runs them in order on the sandbox's browser.
# A `target` is a ref from the last snapshot (`e12`, or `@e12`) or a CSS selector.

MAX_BROWSER_ACTIONS = 50


class Navigate(Model):
    kind: Literal["navigate"] = "navigate"
    url: str = Field(min_length=1)


class Snapshot(Model):
    kind: Literal["snapshot"] = "snapshot"
    interactive: bool = Field(False, description="only the elements that carry a ref")


class Click(Model):
    kind: Literal["click"] = "click"
    target: str = Field(min_length=1)


class TypeText(Model):
    kind: Literal["type"] = "type"
    target: str = Field(min_length=1)
    text: str
    submit: bool = Field(False, description="press Enter afterwards")
    keystrokes: bool = Field(
        False, description="type key by key after what is there (else replace the value)"
    )


class Press(Model):
    kind: Literal["press"] = "press"
    key: str = Field(min_length=1, description="a key name: Enter, Tab, ArrowDown, Control+a")


class Select(Model):
    kind: Literal["select"] = "select"
    target: str = Field(min_length=1)
    values: list[str] = Field(min_length=1)


class Screenshot(Model):
    kind: Literal["screenshot"] = "screenshot"
    full_page: bool = False
    path: str | None = Field(None, description="also save the PNG here, in /workspace")


class Read(Model):
    kind: Literal["get"] = "get"
    what: Literal["text", "title", "url"]
    target: str | None = None


class Wait(Model):
    kind: Literal["wait"] = "wait"
    ms: int | None = Field(None, ge=0, le=600_000)
    selector: str | None = None


class Go(Model):
    kind: Literal["back", "forward", "reload"]


class Evaluate(Model):
    kind: Literal["evaluate"] = "evaluate"
    expression: str = Field(min_length=1)


TabAction = Literal["list", "new", "select", "close"]


class Tabs(Model):
    kind: Literal["tabs"] = "tabs"
    action: TabAction = "list"
    index: int | None = Field(None, ge=0)
    url: str | None = None


class CloseBrowser(Model):
    kind: Literal["close"] = "close"


BrowserAction = Annotated[
    Navigate
    | Snapshot
    | Click
    | TypeText
    | Press
    | Select
    | Screenshot
    | Read
    | Wait
    | Go
    | Evaluate
    | Tabs
    | CloseBrowser,
    Field(discriminator="kind"),
]


class BrowserRequest(Model):
    actions: list[BrowserAction] = Field(min_length=1, max_length=MAX_BROWSER_ACTIONS)
    timeout: float = Field(30.0, gt=0, le=SHIP_RUN_TIMEOUT_CEILING_S)
    stop_on_error: bool = True


class BrowserStep(Model):
    kind: str
    success: bool
    output: str = ""
    error: str | None = None
    screenshot: str | None = Field(None, description="PNG, base64")
    execution_time_ms: int = 0


class BrowserResult(Model):
    steps: list[BrowserStep]
    url: str | None = None
    title: str | None = None
    # What the actions changed beyond their own output: a navigation, a new tab, a
    # download saved, a dialog dismissed. Few words each.
    changes: list[str] = Field(default_factory=list)
    launched: bool = Field(False, description="this call started the browser")
    execution_time_ms: int = 0

    @property
    def success(self) -> bool:
        return all(step.success for step in self.steps)


# -- processes and terminals -------------------------------------------------------------
# A process runs in the background under `bash -lc`, in its own process group, as long as
# the session does (or until it ends). Its output is kept in a bounded ring in Ship's memory
# (read by byte offset) and in full, up to a cap, in `/workspace/.bay/processes/<id>.log`.
# With `pty` it runs on a pseudo-terminal whose screen Ship emulates.

MAX_PROCESS_INPUT_CHARS = 64 * 1024
MAX_OUTPUT_WAIT_S = 300.0
DEFAULT_OUTPUT_CHUNK_BYTES = 64 * 1024
MAX_OUTPUT_CHUNK_BYTES = 1024 * 1024
PROCESS_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# The details of a refused start (`quota_exceeded`): which limit, and its value.
LIMIT_DETAIL = "limit"
RUNNING_PROCESSES_LIMIT = "running_processes"

ProcessState = Literal["running", "exited", "killed"]
SignalName = Literal["TERM", "KILL", "INT", "HUP", "QUIT", "USR1", "USR2", "STOP", "CONT"]
SIGNAL_NAMES: tuple[SignalName, ...] = get_args(SignalName)

# Named keys `input` takes, sent as the bytes an xterm sends for them.
KeyName = Literal[
    "Enter",
    "Tab",
    "Shift+Tab",
    "Escape",
    "Backspace",
    "Delete",
    "Insert",
    "Space",
    "Up",
    "Down",
    "Left",
    "Right",
    "Home",
    "End",
    "PageUp",
    "PageDown",
    "F1",
    "F2",
    "F3",
    "F4",
    "F5",
    "F6",
    "F7",
    "F8",
    "F9",
    "F10",
    "F11",
    "F12",
    "Ctrl+@",
    "Ctrl+A",
    "Ctrl+B",
    "Ctrl+C",
    "Ctrl+D",
    "Ctrl+E",
    "Ctrl+F",
    "Ctrl+G",
    "Ctrl+H",
    "Ctrl+I",
    "Ctrl+J",
    "Ctrl+K",
    "Ctrl+L",
    "Ctrl+M",
    "Ctrl+N",
    "Ctrl+O",
    "Ctrl+P",
    "Ctrl+Q",
    "Ctrl+R",
    "Ctrl+S",
    "Ctrl+T",
    "Ctrl+U",
    "Ctrl+V",
    "Ctrl+W",
    "Ctrl+X",
    "Ctrl+Y",
    "Ctrl+Z",
    "Ctrl+[",
    "Ctrl+\\",
    "Ctrl+]",
    "Ctrl+^",
    "Ctrl+_",
]
KEY_NAMES: tuple[KeyName, ...] = get_args(KeyName)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_text(value: str, what: str) -> str:
    if "\x00" in value:
        raise ValueError(f"{what} cannot contain a NUL byte")
    return value


class ProcessStartRequest(Model):
    command: str = Field(min_length=1, description="run with `bash -lc`")
    cwd: str = Field(".", description="relative to /workspace")
    env: dict[str, str] = Field(default_factory=dict, description="added to the run's")
    name: str | None = Field(None, max_length=100, description="a label for lists")
    pty: bool = Field(False, description="run on a pseudo-terminal (for input keys, screen)")
    rows: int = Field(24, ge=2, le=500, description="the terminal's size, with pty")
    cols: int = Field(80, ge=10, le=1000)

    @field_validator("command")
    @classmethod
    def _command(cls, command: str) -> str:
        return _check_text(command, "a command")

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"invalid environment variable name {name!r}")
            _check_text(value, f"variable {name}")
        return env


class ProcessInfo(Model):
    id: str
    name: str | None = None
    command: str
    cwd: str = Field(description="relative to /workspace")
    pty: bool
    state: ProcessState
    exit_code: int | None = Field(None, description="when it exited")
    signal: str | None = Field(None, description="what killed it, e.g. SIGTERM")
    started_at: datetime
    ended_at: datetime | None = None
    cpu_seconds: float | None = Field(None, description="user + system, its process group")
    memory_bytes: int | None = Field(None, description="resident, its process group, now")
    ports: list[int] = Field(default_factory=list, description="TCP ports it listens on")
    output_bytes: int = Field(0, description="bytes of output so far: the end offset")
    last_output_at: datetime | None = Field(None, description="when it last printed")
    log_path: str = Field(description="its full output, relative to /workspace")
    log_truncated: bool = Field(False, description="the log stopped at its size cap")
    rows: int | None = Field(None, description="the terminal's size, with pty")
    cols: int | None = None


class ProcessList(Model):
    processes: list[ProcessInfo] = Field(default_factory=list, description="oldest first")


class ProcessOutputRequest(Model):
    since: int | None = Field(
        None, ge=0, description="a byte offset (a previous next_offset); null: the oldest kept"
    )
    wait_seconds: float = Field(
        0.0,
        ge=0,
        le=MAX_OUTPUT_WAIT_S,
        description="when nothing is new, wait up to this long for output or the end",
    )
    max_bytes: int = Field(DEFAULT_OUTPUT_CHUNK_BYTES, gt=0, le=MAX_OUTPUT_CHUNK_BYTES)


class ProcessOutput(Model):
    text: str = Field(description="UTF-8 (invalid bytes replaced), from offset to next_offset")
    offset: int = Field(description="where text starts: since, or later if that was dropped")
    next_offset: int = Field(description="the since of the next call")
    dropped_bytes: int = Field(
        0, description="output between since and offset no longer in the ring (see the log)"
    )
    more: bool = Field(False, description="more output is already there past next_offset")
    process: ProcessInfo

    @property
    def dropped(self) -> bool:
        return self.dropped_bytes > 0


class ProcessInputRequest(Model):
    text: str = Field("", max_length=MAX_PROCESS_INPUT_CHARS, description="sent first, as is")
    keys: list[KeyName] = Field(default_factory=list, max_length=256, description="then these")
    close_stdin: bool = Field(False, description="then end its input (EOF); not with pty")


class ProcessInputResult(Model):
    written: int = Field(description="bytes written to the process's input")


class ProcessSignalRequest(Model):
    signal: SignalName = "TERM"

    @field_validator("signal", mode="before")
    @classmethod
    def _bare_name(cls, value: object) -> object:
        # `SIGTERM`, `sigterm` and `TERM` name one signal.
        if isinstance(value, str):
            value = value.strip().upper()
            return value[3:] if value.startswith("SIG") else value
        return value


class ProcessSignalResult(Model):
    sent: bool = Field(
        description="false when nothing of it ran any more (its leader, or jobs the "
        "leader left in its process group)"
    )
    process: ProcessInfo


class ProcessWaitRequest(Model):
    timeout: float = Field(30.0, ge=0, le=SHIP_RUN_TIMEOUT_CEILING_S)


class TerminalResize(Model):
    rows: int = Field(ge=2, le=500)
    cols: int = Field(ge=10, le=1000)


class TerminalScreen(Model):
    rows: int
    cols: int
    lines: list[str] = Field(description="rows lines, trailing blanks trimmed")
    cursor_row: int = Field(description="0-based")
    cursor_col: int = Field(description="0-based")
    cursor_visible: bool = True
    title: str = ""
    rendered: str = Field(description="the lines, the cursor's cell shown as █")
    offset: int = Field(
        0, description="the output offset this screen shows up to: reading from it follows on"
    )
    process: ProcessInfo


# -- the routes --------------------------------------------------------------------------
# Every endpoint of the API, once: Ship mounts its handlers from this table and Bay's
# client calls through it, so a path is written here and nowhere else. Query parameters
# (`path`, `offset`, `limit`, `size`) are not modelled: they travel as the query string;
# a process's id travels in the path.

HttpMethod = Literal["GET", "POST", "PUT", "DELETE"]
Body = TypeVar("Body")
Answer = TypeVar("Answer")


class PoolHeartbeat(Model):
    claimed: bool = Field(
        False, description="the member was handed to an owner: its watch ends for good"
    )


class PoolWatch(Model):
    watching: bool = Field(description="whether the member will stop itself without Bay")
    after_seconds: float | None = Field(None, description="how long it waits for Bay")


@dataclass(frozen=True)
class ShipRoute(Generic[Body, Answer]):
    """One endpoint: what it is sent and what it answers.

    `path` may name parameters (`{process_id}`), filled in by `target`.
    `request` is the JSON body's model (None: no body); `answer` the JSON answer's model.
    `bytes` in either place is a raw byte stream (an upload's body, a download's answer).
    A `streaming` endpoint answers with NDJSON events instead (its run's output as it
    comes, then the answer or an `ErrorEvent`) when asked with `Accept: NDJSON`. Every
    endpoint but an unauthenticated one wants `Authorization: Bearer <SHIP_TOKEN>`.
    """

    method: HttpMethod
    path: str
    request: type[Body] | None
    answer: type[Answer]
    streaming: bool = False
    authenticated: bool = True

    def target(self, **params: str) -> str:
        """The path with its `{name}` parameters filled in (quoted)."""
        return self.path.format(**{name: quote(value, safe="") for name, value in params.items()})


_FILES = "/filesystem/files"

HEALTH: ShipRoute[None, Health] = ShipRoute("GET", "/health", None, Health, authenticated=False)
# Open too: code in the sandbox asks what runtime it is in (`curl localhost:8123/meta`,
# as upstream's clients do); it says nothing a sandbox's own code could misuse.
META: ShipRoute[None, Meta] = ShipRoute("GET", "/meta", None, Meta, authenticated=False)
PYTHON_EXEC: ShipRoute[PythonExecRequest, PythonExecResult] = ShipRoute(
    "POST", "/python/exec", PythonExecRequest, PythonExecResult, streaming=True
)
PYTHON_INTERRUPT: ShipRoute[None, InterruptResult] = ShipRoute(
    "POST", "/python/interrupt", None, InterruptResult
)
CODE_EXEC: ShipRoute[CodeExecRequest, PythonExecResult] = ShipRoute(
    "POST", "/code/exec", CodeExecRequest, PythonExecResult, streaming=True
)
CODE_INTERRUPT: ShipRoute[CodeInterruptRequest, InterruptResult] = ShipRoute(
    "POST", "/code/interrupt", CodeInterruptRequest, InterruptResult
)
SHELL_EXEC: ShipRoute[ShellExecRequest, ShellExecResult] = ShipRoute(
    "POST", "/shell/exec", ShellExecRequest, ShellExecResult, streaming=True
)
SHELL_CANCEL: ShipRoute[ShellCancelRequest, CancelResult] = ShipRoute(
    "POST", "/shell/cancel", ShellCancelRequest, CancelResult
)
BROWSER_EXEC: ShipRoute[BrowserRequest, BrowserResult] = ShipRoute(
    "POST", "/browser/exec", BrowserRequest, BrowserResult
)
READ_FILE: ShipRoute[None, FileText] = ShipRoute("GET", _FILES, None, FileText)
WRITE_FILE: ShipRoute[WriteFileRequest, FileWritten] = ShipRoute(
    "PUT", _FILES, WriteFileRequest, FileWritten
)
DELETE_FILE: ShipRoute[None, FileDeleted] = ShipRoute("DELETE", _FILES, None, FileDeleted)
LIST_DIRECTORY: ShipRoute[None, DirectoryListing] = ShipRoute(
    "GET", "/filesystem/directories", None, DirectoryListing
)
UPLOAD: ShipRoute[bytes, FileWritten] = ShipRoute("POST", "/filesystem/upload", bytes, FileWritten)
MOVE: ShipRoute[MoveRequest, FileWritten] = ShipRoute(
    "POST", "/filesystem/move", MoveRequest, FileWritten
)
DOWNLOAD: ShipRoute[None, bytes] = ShipRoute("GET", "/filesystem/download", None, bytes)

_PROCESSES = "/processes"
_PROCESS = "/processes/{process_id}"
PROCESS_START: ShipRoute[ProcessStartRequest, ProcessInfo] = ShipRoute(
    "POST", _PROCESSES, ProcessStartRequest, ProcessInfo
)
PROCESS_LIST: ShipRoute[None, ProcessList] = ShipRoute("GET", _PROCESSES, None, ProcessList)
PROCESS_GET: ShipRoute[None, ProcessInfo] = ShipRoute("GET", _PROCESS, None, ProcessInfo)
PROCESS_OUTPUT: ShipRoute[ProcessOutputRequest, ProcessOutput] = ShipRoute(
    "POST", _PROCESS + "/output", ProcessOutputRequest, ProcessOutput
)
PROCESS_INPUT: ShipRoute[ProcessInputRequest, ProcessInputResult] = ShipRoute(
    "POST", _PROCESS + "/input", ProcessInputRequest, ProcessInputResult
)
PROCESS_SIGNAL: ShipRoute[ProcessSignalRequest, ProcessSignalResult] = ShipRoute(
    "POST", _PROCESS + "/signal", ProcessSignalRequest, ProcessSignalResult
)
PROCESS_WAIT: ShipRoute[ProcessWaitRequest, ProcessInfo] = ShipRoute(
    "POST", _PROCESS + "/wait", ProcessWaitRequest, ProcessInfo
)
TERMINAL_RESIZE: ShipRoute[TerminalResize, ProcessInfo] = ShipRoute(
    "POST", _PROCESS + "/resize", TerminalResize, ProcessInfo
)
TERMINAL_SCREEN: ShipRoute[None, TerminalScreen] = ShipRoute(
    "GET", _PROCESS + "/screen", None, TerminalScreen
)

POOL_HEARTBEAT: ShipRoute[PoolHeartbeat, PoolWatch] = ShipRoute(
    "POST", "/pool/heartbeat", PoolHeartbeat, PoolWatch
)

ROUTES: tuple[ShipRoute[Any, Any], ...] = (
    HEALTH,
    META,
    PYTHON_EXEC,
    PYTHON_INTERRUPT,
    CODE_EXEC,
    CODE_INTERRUPT,
    SHELL_EXEC,
    SHELL_CANCEL,
    BROWSER_EXEC,
    READ_FILE,
    WRITE_FILE,
    DELETE_FILE,
    LIST_DIRECTORY,
    UPLOAD,
    MOVE,
    DOWNLOAD,
    PROCESS_START,
    PROCESS_LIST,
    PROCESS_GET,
    PROCESS_OUTPUT,
    PROCESS_INPUT,
    PROCESS_SIGNAL,
    PROCESS_WAIT,
    TERMINAL_RESIZE,
    TERMINAL_SCREEN,
    POOL_HEARTBEAT,
)
