"""What a caller asks of a sandbox's background processes and terminals, with every input
rule written once, as field types both surfaces publish.

As the run requests of `services/runs.py`: building a request checks its rules and
refuses with `ValidationFailed` naming the field and its limit (numbers from
`bay_mcp/limits.py`), or `InvalidPath` for a working directory outside /workspace.
Light on purpose (pydantic, the limits and Ship's protocol models): the stdio server
builds its tool schemas from these before the database and Docker layers load.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self, cast

from pydantic import BeforeValidator, Field, model_validator

from bay_mcp.environment import check_env
from bay_mcp.errors import ValidationFailed
from bay_mcp.limits import (
    DEFAULT_TIMEOUT_S,
    MAX_INPUT_CHARS,
    MAX_KEYS,
    MAX_PROCESS_NAME_CHARS,
    MAX_PROCESS_WAIT_S,
    MAX_TERMINAL_COLS,
    MAX_TERMINAL_ROWS,
    MIN_TERMINAL_COLS,
    MIN_TERMINAL_ROWS,
    MIN_TIMEOUT_S,
)
from bay_mcp.paths import workspace_path
from bay_mcp.services.runs import Checked, Command, WorkingDirectory
from ship import protocol
from ship.protocol import KeyName

# -- the rules, as field types the surfaces' schemas are built from -----------------------

ProcessName = Annotated[str | None, Field(min_length=1, max_length=MAX_PROCESS_NAME_CHARS)]
Environment = dict[str, str] | None
InputText = Annotated[str | None, Field(max_length=MAX_INPUT_CHARS)]
Keys = Annotated[list[KeyName] | None, Field(max_length=MAX_KEYS)]
Since = Annotated[int | None, Field(ge=0)]
WaitSeconds = Annotated[float, Field(ge=0, le=MAX_PROCESS_WAIT_S)]
WaitTimeout = Annotated[int, Field(ge=MIN_TIMEOUT_S, le=MAX_PROCESS_WAIT_S)]
Rows = Annotated[int, Field(ge=MIN_TERMINAL_ROWS, le=MAX_TERMINAL_ROWS)]
Cols = Annotated[int, Field(ge=MIN_TERMINAL_COLS, le=MAX_TERMINAL_COLS)]

SignalName = Literal[
    "SIGTERM", "SIGINT", "SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGSTOP", "SIGCONT"
]  # fmt: skip


def _signal_name(value: object) -> object:
    """`TERM`, `sigterm` and `SIGTERM` name one signal."""
    if isinstance(value, str):
        name = value.strip().upper()
        return name if name.startswith("SIG") else f"SIG{name}"
    return value


Signal = Annotated[SignalName, BeforeValidator(_signal_name)]


# -- requests -----------------------------------------------------------------------------


class ProcessStart(Checked):
    """A command to run in the background under `bash -lc`, in `cwd` (relative to
    /workspace; normalised here), with variables over the sandbox's, on a terminal
    when `pty`."""

    command: Command
    cwd: WorkingDirectory = "."
    env: Environment = None
    name: ProcessName = None
    pty: bool = False

    @model_validator(mode="after")
    def _runnable(self) -> Self:
        if not self.command.strip():
            raise ValidationFailed("command is empty", {"fields": ["command"], "field": "command"})
        if "\x00" in self.command:
            raise ValidationFailed(
                "command contains a NUL byte, which no shell can run: remove it",
                {"fields": ["command"], "field": "command"},
            )
        if self.env:
            check_env(self.env, "env")
        self.cwd = workspace_path(self.cwd, allow_root=True, field="cwd")
        return self


class OutputRead(Checked):
    """New output of a process from a byte offset, waiting up to `wait_seconds` for some
    (or for its end) when there is none yet."""

    since: Since = None
    wait_seconds: WaitSeconds = 0


class ProcessInput(Checked):
    """Text for a process's input, then named keys (a terminal's), then its input
    closed when `close_stdin`. At least one of the three."""

    text: InputText = None
    keys: Keys = None
    close_stdin: bool = False

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.text and not self.keys and not self.close_stdin:
            raise ValidationFailed(
                "give text, keys or close_stdin: there is nothing to send",
                {"fields": ["text", "keys"], "field": "text"},
            )
        if self.text is not None and "\x00" in self.text:
            raise ValidationFailed(
                "text contains a NUL byte: send keys such as Ctrl+@ instead",
                {"fields": ["text"], "field": "text"},
            )
        return self


class SignalSend(Checked):
    signal: Signal = "SIGTERM"

    @property
    def bare(self) -> protocol.SignalName:
        """The signal as Ship's protocol names it: `TERM`."""
        return cast(protocol.SignalName, self.signal.removeprefix("SIG"))


class ProcessWait(Checked):
    timeout: WaitTimeout = DEFAULT_TIMEOUT_S


class TerminalSize(Checked):
    rows: Rows
    cols: Cols
