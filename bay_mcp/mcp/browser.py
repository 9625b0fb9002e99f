"""The browser tools, modelled on the most used browser MCP servers: navigate, read the
page as an accessibility snapshot whose elements carry refs (`e12`), act on refs.

Each returns a few lines: what the action did, what changed (a navigation, a new tab,
a download), and the page's URL and title. A failed action is a tool error whose text
says what to do (a stale ref: take a new snapshot).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ImageContent, TextContent
from mcp_types import ToolAnnotations as Hints
from pydantic import BaseModel, Field

from bay_mcp.limits import DEFAULT_TIMEOUT_S
from bay_mcp.mcp.arguments import SandboxId, Timeout
from bay_mcp.mcp.plumbing import Tool, call, caller
from bay_mcp.mcp.progress import progress_for, with_heartbeat
from bay_mcp.services.views import BrowserExecResult
from ship import protocol

Ref = Annotated[
    str,
    Field(
        description="An element's ref from the latest browser_snapshot (e.g. 'e12'), or a "
        "CSS selector"
    ),
]
# What the browser does reaches the pages' sites: an open world.
ACTS = Hints(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
READS = Hints(read_only_hint=True, open_world_hint=False)  # the page as loaded


class BrowserOutput(BaseModel):
    success: bool
    output: str
    url: str | None = None
    title: str | None = None
    changes: list[str] = Field(default_factory=list)
    execution_id: str
    execution_time_ms: int


async def _act(
    ctx: Context[Any, Any],
    sandbox_id: str,
    action: protocol.BrowserAction,
    timeout: int,
) -> CallToolResult:
    """Run one action on the sandbox's browser; a failed one is a tool error."""
    bay, owner = await caller(ctx)
    progress = progress_for(ctx)
    result = await call(
        with_heartbeat(
            bay.execution.browser(owner, sandbox_id, [action], timeout, progress),
            progress,
            "browsing",
        )
    )
    if not result.success:
        raise ToolError(result.output)
    return _content(result)


async def browser_navigate(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    url: Annotated[
        str,
        Field(
            description="The address: http(s)://, or file:// under /workspace; "
            "localhost is the sandbox itself"
        ),
    ],
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """Open a URL in the sandbox's browser (Chromium, started on first use; its
    cookies and logins persist in /workspace/.browser). Then browser_snapshot to
    read the page and get element refs."""
    return await _act(ctx, sandbox_id, protocol.Navigate(url=url), timeout)


async def browser_snapshot(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    interactive_only: Annotated[
        bool, Field(description="Only the elements one can act on (those with refs)")
    ] = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """The page as an accessibility tree in text: roles, names, values, and a ref
    such as [ref=e12] on each element one can act on. Pass refs to browser_click,
    browser_type and browser_select; take a new snapshot after the page changes."""
    return await _act(ctx, sandbox_id, protocol.Snapshot(interactive=interactive_only), timeout)


async def browser_click(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    ref: Ref,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """Click an element (a link, a button, a checkbox)."""
    return await _act(ctx, sandbox_id, protocol.Click(target=ref), timeout)


async def browser_type(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    ref: Ref,
    text: Annotated[str, Field(description="The text; it replaces the field's value")],
    submit: Annotated[bool, Field(description="Press Enter afterwards")] = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """Type text into a field (its value is replaced), and submit with Enter if asked."""
    action = protocol.TypeText(target=ref, text=text, submit=submit)
    return await _act(ctx, sandbox_id, action, timeout)


async def browser_press(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    key: Annotated[str, Field(description="A key: Enter, Tab, Escape, ArrowDown, Control+a, a, …")],
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """Press a key on the page (where the focus is)."""
    return await _act(ctx, sandbox_id, protocol.Press(key=key), timeout)


async def browser_select(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    ref: Ref,
    values: Annotated[
        list[str], Field(min_length=1, description="The option values or labels to select")
    ],
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """Choose options in a select element."""
    return await _act(ctx, sandbox_id, protocol.Select(target=ref, values=values), timeout)


async def browser_screenshot(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    full_page: Annotated[
        bool, Field(description="The whole page, not only the visible part")
    ] = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """A PNG screenshot of the page, returned as an image."""
    return await _act(ctx, sandbox_id, protocol.Screenshot(full_page=full_page), timeout)


async def browser_evaluate(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    expression: Annotated[
        str,
        Field(description="A JavaScript expression or function body run in the page"),
    ],
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """Evaluate JavaScript in the page; its value comes back as JSON text."""
    return await _act(ctx, sandbox_id, protocol.Evaluate(expression=expression), timeout)


async def browser_tabs(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    action: Annotated[
        Literal["list", "new", "select", "close"],
        Field(description="list the tabs, open a new one, switch to one, or close one"),
    ] = "list",
    index: Annotated[
        int | None, Field(ge=0, description="The tab for select and close (0 is first)")
    ] = None,
    url: Annotated[str | None, Field(description="For new: open this URL in it")] = None,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """List, open, switch or close tabs; the current tab is marked *."""
    tabs = protocol.Tabs(action=action, index=index, url=url)
    return await _act(ctx, sandbox_id, tabs, timeout)


async def run_browser_skill(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    skill_key: Annotated[str, Field(description="The released browser skill's key")],
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> Annotated[CallToolResult, BrowserOutput]:
    """Replay a released browser skill: its active release's commands (its payload's
    "commands"), in order, on this sandbox's browser; stops at the first failure."""
    bay, owner = await caller(ctx)
    progress = progress_for(ctx)
    _, result = await call(
        with_heartbeat(
            bay.browser_learning.run_skill(owner, sandbox_id, skill_key, timeout, progress),
            progress,
            "browsing",
        )
    )
    if not result.success:
        raise ToolError(result.output)
    return _content(result)


def _content(result: BrowserExecResult) -> CallToolResult:
    structured = BrowserOutput(
        success=result.success,
        output=result.output,
        url=result.url,
        title=result.title,
        changes=result.changes,
        execution_id=result.execution_id,
        execution_time_ms=result.execution_time_ms,
    )
    blocks: list[TextContent | ImageContent] = [TextContent(text=result.output)]
    blocks.extend(
        ImageContent(data=step.screenshot, mime_type="image/png")
        for step in result.steps
        if step.screenshot
    )
    return CallToolResult(content=blocks, structured_content=structured.model_dump(mode="json"))


TOOLS = (
    Tool(browser_navigate, ACTS),
    Tool(browser_snapshot, READS),
    Tool(browser_click, ACTS),
    Tool(browser_type, ACTS),
    Tool(browser_press, ACTS),
    Tool(browser_select, ACTS),
    Tool(browser_screenshot, READS),
    Tool(browser_evaluate, ACTS),
    Tool(browser_tabs, ACTS),
    Tool(run_browser_skill, ACTS),
)
