"""The MCP surface as modules: every tool a module-level function that can be imported
and called alone, registered by `server.py`, which nothing imports back."""

from __future__ import annotations

import ast
from pathlib import Path

from mcp import Client
from mcp.server.mcpserver import Context

from bay_mcp.bay import Bay
from bay_mcp.mcp import (
    browser,
    egress,
    files,
    history,
    ports,
    processes,
    runs,
    sandbox_view,
    sandboxes,
    secrets,
    skills,
    snapshots,
)
from bay_mcp.mcp.server import create_mcp_server

PACKAGE = Path(sandboxes.__file__).parent
CAPABILITIES = (
    sandboxes, runs, files, history, browser, snapshots, ports, processes, skills, secrets,
    egress, sandbox_view,
)  # fmt: skip


async def test_a_tool_is_a_plain_function_called_alone(bay: Bay) -> None:
    async def ready() -> Bay:
        return bay

    server = create_mcp_server(ready, lambda ctx: "alice")
    ctx: Context[object, object] = Context(mcp_server=server)
    made = await sandboxes.create_sandbox(ctx)
    got = await sandboxes.get_sandbox(ctx, made.id)
    assert (got.id, got.status) == (made.id, "idle")
    assert [s.id for s in (await bay.sandboxes.list("alice")).items] == [made.id]


async def test_the_server_lists_every_module_tool_and_only_those(bay: Bay) -> None:
    async def ready() -> Bay:
        return bay

    declared = [tool.function for module in CAPABILITIES for tool in module.TOOLS]
    for function in declared:
        assert function.__qualname__ == function.__name__, f"{function.__qualname__}: nested"
    async with Client(create_mcp_server(ready, lambda ctx: "alice")) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
    assert sorted(listed) == sorted(function.__name__ for function in declared)


def test_nothing_imports_the_server_back_and_no_import_is_late() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        top_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names]
            assert "bay_mcp.mcp.server" not in names, f"{path.name} imports the server"
            guarded = any(
                isinstance(parent, ast.If) and node in ast.walk(parent) for parent in tree.body
            )
            assert id(node) in top_level or guarded, f"{path.name}:{node.lineno}: late import"
