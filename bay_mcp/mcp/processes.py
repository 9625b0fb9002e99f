"""The process and terminal tools: start a command in the background, list the sandbox's
processes, read their output (long polling, streamed as progress when the client asked),
write to their input, signal and wait for them; read and resize a terminal's screen, and
share it with a person as a signed link.

Each builds the service's request from its arguments (the request holds the rules; the
schemas below are built from its field types) and renders the answer: text for the
model, the service's result as structured content.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from mcp_types import ToolAnnotations as Hints
from pydantic import Field

from bay_mcp.limits import DEFAULT_TIMEOUT_S, MAX_PROCESS_WAIT_S, MAX_TIMEOUT_S, MIN_TIMEOUT_S
from bay_mcp.mcp.arguments import SandboxId
from bay_mcp.mcp.plumbing import Tool, call, caller, tool_errors
from bay_mcp.mcp.progress import live_output, progress_for, with_heartbeat
from bay_mcp.services import process_inputs as inputs
from bay_mcp.services import runs
from bay_mcp.services.views import ProcessList, ProcessView, TerminalLink
from ship import protocol

ProcessId = Annotated[str, Field(description="The process's id, as process_start returned it")]


def _state(process: protocol.ProcessInfo) -> str:
    """`running`, `exited with code 0`, `killed by SIGTERM` (a signal Bay sent), `ended
    by SIGINT` (one from elsewhere: Ctrl+C, the kernel)."""
    if process.state == "running":
        return "running"
    if process.signal is not None:
        return f"{'killed' if process.state == 'killed' else 'ended'} by {process.signal}"
    if process.state == "killed":
        return "killed"
    return f"exited with code {process.exit_code}"


def _named(process: protocol.ProcessInfo) -> str:
    return process.id + (f" ({process.name})" if process.name else "")


async def process_start(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    command: Annotated[
        runs.Command, Field(description="A bash command line, e.g. 'npm run dev' or 'python3 -i'")
    ],
    cwd: Annotated[
        runs.WorkingDirectory,
        Field(description="Working directory relative to /workspace; default '.'"),
    ] = ".",
    env: Annotated[
        inputs.Environment,
        Field(description="Extra environment variables for this process, over the sandbox's"),
    ] = None,
    name: Annotated[
        inputs.ProcessName, Field(description="A label to recognise it by in process_list")
    ] = None,
    pty: Annotated[
        bool,
        Field(
            description="Run on a terminal: for interactive programs (a REPL, an installer's "
            "prompts, vim), driven with process_input keys and read with terminal_screen"
        ),
    ] = False,
) -> ProcessView:
    """Start a command in the background and return at once with its process_id: a dev
    server, a watcher, a long job, a database, or with pty=true an interactive program.
    It runs with bash -lc as the sandbox user until it ends or the sandbox stops (a stop
    ends every process). Its output is kept: read it with process_output. To let a person
    open a server it starts, expose_port its port (listen on 0.0.0.0)."""
    with tool_errors():
        request = inputs.ProcessStart(command=command, cwd=cwd, env=env, name=name, pty=pty)
    bay, owner = await caller(ctx)
    return await call(bay.processes.start(owner, sandbox_id, request, progress_for(ctx)))


async def process_list(ctx: Context[Any, Any], sandbox_id: SandboxId) -> ProcessList:
    """List the sandbox's background processes, running and recently ended: id, name,
    command, state (running, exited, killed) with exit code or signal, CPU and memory,
    the ports each listens on and the URLs of those exposed."""
    bay, owner = await caller(ctx)
    return await call(bay.processes.list(owner, sandbox_id))


def _output_text(output: protocol.ProcessOutput) -> str:
    process = output.process
    lines = [output.text.rstrip("\n") if output.text else "(no new output)"]
    facts = [_named(process), _state(process), f"next since={output.next_offset}"]
    if output.more:
        facts.append("more output is waiting: call again with that since")
    lines.append(f"[{' · '.join(facts)}]")
    if output.dropped_bytes:
        lines.append(
            f"[{output.dropped_bytes} bytes before this are no longer kept in memory; the "
            f"whole log is /workspace/{process.log_path} (read_file)]"
        )
    if process.log_truncated:
        lines.append("[the log file stopped at its size cap]")
    return "\n".join(lines)


async def process_output(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    process_id: ProcessId,
    since: Annotated[
        inputs.Since,
        Field(
            description="A byte offset: the next since of your previous call, to get only what "
            "is new; omit it for the oldest output still kept"
        ),
    ] = None,
    wait_seconds: Annotated[
        inputs.WaitSeconds,
        Field(
            description=f"When nothing is new, wait up to this long (0–{MAX_PROCESS_WAIT_S} s) "
            "for output or for the process to end: follow a log without sleeping in a loop"
        ),
    ] = 0,
) -> Annotated[CallToolResult, protocol.ProcessOutput]:
    """Read a background process's output (stdout and stderr interleaved, or its
    terminal's): what came after since, and its state (an ended process says its exit
    code or signal). A call returns a bounded amount; when more is waiting it says so:
    call again with the next since it gives. The whole output is also in
    /workspace/.bay/processes/<id>.log."""
    with tool_errors():
        request = inputs.OutputRead(since=since, wait_seconds=wait_seconds)
    bay, owner = await caller(ctx)
    limit = bay.settings.output_limit_chars
    live = live_output(ctx, limit)
    if live is None or not request.wait_seconds:
        work = bay.processes.output(owner, sandbox_id, process_id, request, limit)
    else:  # the client hears progress: follow the output for the whole wait, streamed
        work = bay.processes.follow(owner, sandbox_id, process_id, request, live.add, limit)
    output = await call(with_heartbeat(work, progress_for(ctx), "waiting for output", live))
    return CallToolResult(
        content=[TextContent(text=_output_text(output))],
        structured_content=output.model_dump(mode="json"),
    )


async def process_input(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    process_id: ProcessId,
    text: Annotated[
        inputs.InputText,
        Field(description="Text to send as is; add a newline (or the Enter key) to submit a line"),
    ] = None,
    keys: Annotated[
        inputs.Keys,
        Field(description="Named keys sent after the text, in order: Enter, Tab, Up, Ctrl+C, …"),
    ] = None,
    close_stdin: Annotated[
        bool, Field(description="Then close its input (end of file); not for a terminal")
    ] = False,
) -> protocol.ProcessInputResult:
    """Type into a running process: text to its standard input, or to its terminal with
    named keys (pty). Read the effect with terminal_screen (pty) or process_output."""
    with tool_errors():
        request = inputs.ProcessInput(text=text, keys=keys, close_stdin=close_stdin)
    bay, owner = await caller(ctx)
    return await call(bay.processes.input(owner, sandbox_id, process_id, request))


async def process_signal(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    process_id: ProcessId,
    signal: Annotated[
        inputs.Signal,
        Field(description="SIGTERM asks it to stop, SIGKILL forces it, SIGINT is Ctrl+C"),
    ] = "SIGTERM",
) -> protocol.ProcessSignalResult:
    """Send a signal to a background process and everything it started (its process
    group): SIGTERM to stop a server, SIGKILL if it will not stop."""
    with tool_errors():
        request = inputs.SignalSend(signal=signal)
    bay, owner = await caller(ctx)
    return await call(bay.processes.signal(owner, sandbox_id, process_id, request))


async def process_wait(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    process_id: ProcessId,
    timeout: Annotated[
        inputs.WaitTimeout,
        Field(
            description=f"Seconds to wait at most ({MIN_TIMEOUT_S}–{MAX_TIMEOUT_S}); "
            f"default {DEFAULT_TIMEOUT_S}"
        ),
    ] = DEFAULT_TIMEOUT_S,
) -> ProcessView:
    """Wait for a background process to end and return its state with its exit code or
    signal. If it still runs after timeout seconds it is left running and returned as
    it is (state running)."""
    with tool_errors():
        request = inputs.ProcessWait(timeout=timeout)
    bay, owner = await caller(ctx)
    progress = progress_for(ctx)
    work = bay.processes.wait(owner, sandbox_id, process_id, request)
    return await call(with_heartbeat(work, progress, "waiting for the process"))


async def terminal_screen(
    ctx: Context[Any, Any], sandbox_id: SandboxId, process_id: ProcessId
) -> Annotated[CallToolResult, protocol.TerminalScreen]:
    """Show the screen of a process started with pty=true, as text (rows × cols), the
    cursor marked with █: what a person would see in a REPL, vim, htop or an installer."""
    bay, owner = await caller(ctx)
    screen = await call(bay.processes.screen(owner, sandbox_id, process_id))
    process = screen.process
    cursor = "hidden" if not screen.cursor_visible else f"{screen.cursor_row}, {screen.cursor_col}"
    header = f"[{_named(process)} · {_state(process)} · {screen.rows}×{screen.cols}"
    header += f" · cursor {cursor}" + (f" · {screen.title}" if screen.title else "") + "]"
    return CallToolResult(
        content=[TextContent(text=f"{header}\n{screen.rendered}")],
        structured_content=screen.model_dump(mode="json"),
    )


async def terminal_resize(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    process_id: ProcessId,
    rows: Annotated[inputs.Rows, Field(description="Lines of the terminal")],
    cols: Annotated[inputs.Cols, Field(description="Columns of the terminal")],
) -> ProcessView:
    """Resize the terminal of a process started with pty=true (default 24×80); the
    program is told and redraws."""
    with tool_errors():
        request = inputs.TerminalSize(rows=rows, cols=cols)
    bay, owner = await caller(ctx)
    return await call(bay.processes.resize(owner, sandbox_id, process_id, request))


async def terminal_link(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    process_id: Annotated[
        str | None,
        Field(description="The process whose terminal to share; omit for a new login shell"),
    ] = None,
) -> TerminalLink:
    """A link for a person to watch and type in a terminal of the sandbox from a browser
    (xterm.js over a WebSocket): a process's (started with pty=true), or a new login
    shell each time it is opened. Signed, it needs no key and expires."""
    bay, owner = await caller(ctx)
    return await call(bay.terminals.link(owner, sandbox_id, process_id))


READS = Hints(read_only_hint=True, open_world_hint=False)
# A command, or what is typed into it, may reach the network (within the egress policy).
RUNS = Hints(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)
SIGNALS = Hints(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)

TOOLS = (
    Tool(process_start, RUNS),
    Tool(process_list, READS),
    Tool(process_output, READS),
    Tool(process_input, RUNS),
    Tool(process_signal, SIGNALS),
    Tool(process_wait, READS),
    Tool(terminal_screen, READS),
    Tool(
        terminal_resize,
        Hints(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    ),
    Tool(terminal_link, READS),
)
