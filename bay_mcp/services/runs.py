"""Runs: what a caller asks to run (Python code, a shell command), with every input rule
written once, and what a run gives back.

Each surface builds a request from its arguments; building it checks every rule and
refuses with the error a caller reads: `ValidationFailed` naming the field and its limit,
or `InvalidPath` for a working directory outside /workspace. The field types below carry
the rules (numbers from `bay_mcp/limits.py`), and both surfaces build their published
schemas from them. A new kind of run (a process, another language) is one more request
and result class here and one more branch in `ExecService`.

A result keeps Ship's own nested types (`PythonError`, `ResourceReport`, `FilesChanged`);
the surfaces only render it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)

# Re-exported: a surface names the live-output callback without importing an adapter.
from bay_mcp.adapters.ship_client import OutputSink as OutputSink
from bay_mcp.errors import ValidationFailed
from bay_mcp.limits import (
    DEFAULT_TIMEOUT_S,
    MAX_CODE_CHARS,
    MAX_COMMAND_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_NOTES_CHARS,
    MAX_PATH_CHARS,
    MAX_TAGS_CHARS,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
)
from bay_mcp.paths import workspace_path
from ship.protocol import FilesChanged, Language, PythonError, ResourceReport, RichOutput

RunKind = Literal["python", "shell"]
# How a run is recorded (history, metrics): a code run by its language.
ExecKind = Literal["python", "typescript", "javascript", "r", "shell"]
LANGUAGE_TITLES: dict[Language, str] = {
    "python": "Python", "typescript": "TypeScript", "javascript": "JavaScript", "r": "R",
}  # fmt: skip

# -- the rules, as field types the surfaces' schemas are built from -----------------------

Timeout = Annotated[int, Field(ge=MIN_TIMEOUT_S, le=MAX_TIMEOUT_S)]
Code = Annotated[str, Field(max_length=MAX_CODE_CHARS)]
Command = Annotated[str, Field(max_length=MAX_COMMAND_CHARS)]
WorkingDirectory = Annotated[str, Field(max_length=MAX_PATH_CHARS)]
Description = Annotated[str | None, Field(max_length=MAX_DESCRIPTION_CHARS)]
Tags = Annotated[str | None, Field(max_length=MAX_TAGS_CHARS)]
Notes = Annotated[str | None, Field(max_length=MAX_NOTES_CHARS)]


def check_timeout(timeout: float) -> float:
    """`timeout` if it is within the run limits, else ValidationFailed saying them."""
    if not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S:
        raise _timeout_refused(timeout)
    return timeout


def _timeout_refused(timeout: float) -> ValidationFailed:
    return ValidationFailed(
        f"timeout must be between {MIN_TIMEOUT_S} and {MAX_TIMEOUT_S} seconds, got {timeout:g}",
        {"fields": ["timeout"], "field": "timeout"},
    )


def _refused(exc: ValidationError) -> ValidationFailed:
    """A request that breaks a field's rule, as the error a caller reads: the field and
    the rule, its limit included ("String should have at most 100000 characters")."""
    errors = exc.errors()
    fields = sorted({".".join(str(part) for part in error["loc"]) for error in errors})
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"])
    bound = first["type"] in ("greater_than_equal", "less_than_equal")
    if field == "timeout" and bound and isinstance(first["input"], int | float):
        return _timeout_refused(first["input"])
    return ValidationFailed(f"invalid {field}: {first['msg']}", {"fields": fields, "field": field})


# -- requests -----------------------------------------------------------------------------


class Checked(BaseModel):
    """A request whose broken rule is refused as `ValidationFailed`, never pydantic's error."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_as_bay_error(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError as exc:
            raise _refused(exc) from exc


class RunAnnotation(Checked):
    """What a caller says of a past run (annotate): given fields are set, '' clears one."""

    description: Description = None
    tags: Tags = None
    notes: Notes = None


class RunRequest(Checked):
    """What every run takes: a time limit, and what the caller says of it for the history."""

    kind: ClassVar[RunKind]  # the capability the run needs
    timeout: Timeout = DEFAULT_TIMEOUT_S
    description: Description = None
    tags: Tags = None

    @property
    def source(self) -> str:
        """What the history keeps as the run's code."""
        raise NotImplementedError

    @property
    def exec_type(self) -> ExecKind:
        """What the history and the metrics call the run."""
        return self.kind


class PythonRun(RunRequest):
    """Python code for the sandbox's kernel."""

    kind: ClassVar[RunKind] = "python"
    code: Code

    @property
    def source(self) -> str:
        return self.code


class CodeRun(RunRequest):
    """Code in one of the sandbox's languages, run in that language's kernel (the
    kernels are the python capability's; the profile says which languages it has)."""

    kind: ClassVar[RunKind] = "python"
    language: Language = "python"
    code: Code

    @property
    def source(self) -> str:
        return self.code

    @property
    def exec_type(self) -> ExecKind:
        return self.language


class ShellRun(RunRequest):
    """A bash command line, run in `cwd` (relative to /workspace; normalised here)."""

    kind: ClassVar[RunKind] = "shell"
    command: Command
    cwd: WorkingDirectory = "."

    @model_validator(mode="after")
    def _runnable(self) -> Self:
        if not self.command.strip():
            raise ValidationFailed("command is empty", {"fields": ["command"]})
        if "\x00" in self.command:
            raise ValidationFailed(
                "command contains a NUL byte, which no shell can run: remove it",
                {"fields": ["command"], "field": "command"},
            )
        self.cwd = workspace_path(self.cwd, allow_root=True, field="cwd")
        return self

    @property
    def source(self) -> str:
        return self.command


# -- results ------------------------------------------------------------------------------


class RunResult(BaseModel):
    """What every run gives back. A failed run (an exception, a non-zero exit) is a
    result with `success: false`; one that hit its time limit is the `timeout` error."""

    success: bool
    output: str
    truncated: bool = Field(False, description="the runtime cut the output at its capture limit")
    shortened: bool = Field(
        False,
        description="asked for a model: only the output's head and tail are here, the "
        "whole is saved in the workspace (when it could be)",
    )
    execution_id: str
    execution_time_ms: int
    resources: ResourceReport | None = Field(
        None, description="what the run cost and, if it was killed, why"
    )
    files_changed: FilesChanged | None = Field(
        None, description="files under /workspace the run created, changed or deleted"
    )
    notice: str | None = Field(
        None,
        description="what else the caller should know: e.g. the kernel restarted, or the "
        "session was replaced because the previous one stopped answering (memory lost)",
    )


class PythonRunResult(RunResult):
    output: str = Field(description="stdout, stderr and the last expression's value")
    error: PythonError | None = None
    execution_count: int | None = None
    images: list[str] = Field(default_factory=list, description="PNG images, base64")
    outputs: list[RichOutput] = Field(
        default_factory=list,
        description="what the code displayed beyond plain text, in order, each with its "
        "MIME type: images, HTML, Markdown, LaTeX, JSON, and a figure's chart as data",
    )
    kernel_restarted: bool = False

    @property
    def error_text(self) -> str | None:
        """The error as a reader sees it: its traceback, or `ename: evalue` without one."""
        if self.error is None:
            return None
        traceback = "\n".join(self.error.traceback)
        return traceback if traceback.strip() else self.error_line

    @property
    def error_line(self) -> str | None:
        """The error in one line, `ename: evalue`, as the history keeps it."""
        return None if self.error is None else f"{self.error.ename}: {self.error.evalue}"


class CodeRunResult(PythonRunResult):
    language: Language = Field(description="the language it ran in")


class ShellRunResult(RunResult):
    output: str = Field(description="stdout and stderr, interleaved in the order written")
    exit_code: int | None
    error: str | None = Field(None, description="why the command failed, when it did")
