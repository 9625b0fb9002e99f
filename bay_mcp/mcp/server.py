"""The MCP server over Bay: registers every capability's tools and the cargo resources.

Only wiring: the tools are module-level functions, one module per capability
(`sandboxes`, `runs`, `files`, `history`, `browser`, `snapshots`, `ports`,
`processes`, `skills`, `secrets`, `egress`, and `sandbox_view` with its MCP Apps
extension), `subscriptions` (resource updates, list changes), the workflow prompts in
`prompts`, argument completions in `completions`, the icons in `icons`; the server class,
strict arguments and error mapping are in `plumbing`, progress and live output in
`progress`.
"""

from __future__ import annotations

import inspect

from bay_mcp import __version__
from bay_mcp.mcp import (
    browser,
    completions,
    egress,
    files,
    history,
    icons,
    ports,
    processes,
    prompts,
    resources,
    runs,
    sandbox_view,
    sandboxes,
    secrets,
    skills,
    snapshots,
    subscriptions,
)
from bay_mcp.mcp.plumbing import BayMCPServer, BayReady, OwnerOf
from bay_mcp.mcp.progress import LiveOutput

__all__ = ["BayMCPServer", "LiveOutput", "create_mcp_server"]

INSTRUCTIONS = """\
Bay gives you persistent, isolated Linux sandboxes. Call create_sandbox once, then use
its sandbox_id with python_exec (a stateful IPython kernel: variables and imports persist
between calls until the sandbox stops), shell_exec (bash), and the file tools; servers
and interactive programs run in the background with process_start. Files
live in /workspace (all paths are relative to it) and survive stop_sandbox; they are
gone after delete_sandbox. The first call on a new or stopped sandbox starts its
container (about a second). Delete sandboxes you no longer need."""


def create_mcp_server(ready: BayReady, owner_of: OwnerOf) -> BayMCPServer:
    """The MCP server over Bay: `ready()` gives the started Bay (awaited by every call, so
    a server can answer `initialize` before Bay has finished starting); `owner_of` names
    the caller of a request."""
    server = BayMCPServer(
        ready,
        owner_of,
        name="bay",
        title="Bay sandboxes",
        instructions=INSTRUCTIONS,
        version=__version__,
        icons=icons.SERVER,
        extensions=[sandbox_view.apps_extension()],  # show_sandbox and its ui:// view
    )
    server.add_tools(sandboxes.TOOLS)
    server.add_tools(runs.TOOLS)
    server.add_tools(files.TOOLS)
    server.add_tools(history.TOOLS)
    server.resource(
        resources.TEMPLATE,
        name=resources.NAME,
        description=resources.DESCRIPTION,
        icons=icons.CARGO,
    )(resources.cargo_file)
    server.add_tools(browser.TOOLS)
    server.add_tools(snapshots.TOOLS)
    server.add_tools(ports.TOOLS)
    server.add_tools(processes.TOOLS)
    server.add_tools(skills.TOOLS)
    server.add_tools(egress.TOOLS)
    server.add_tools(secrets.TOOLS)
    subscriptions.serve(server)
    for function, title, drawn in prompts.PROMPTS:
        description = inspect.cleandoc(function.__doc__ or "")
        server.prompt(title=title, description=description, icons=drawn)(function)
    server.complete_with(completions.complete)
    return server
