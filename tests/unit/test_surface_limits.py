"""Both surfaces held to one table of limits: MCP (the SDK's in-memory client) and REST
(over ASGI) refuse the same oversized code, command, working directory, path, what a
caller says of a run (description, tags, notes), a process's name and its input, each
naming the same limit from `bay_mcp/limits.py`, before anything runs; a value at the
limit is taken by both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from mcp import Client
from mcp_types import CallToolResult, TextContent

from bay_mcp.bay import Bay
from bay_mcp.errors import ValidationFailed
from bay_mcp.limits import (
    MAX_CODE_CHARS,
    MAX_COMMAND_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_INPUT_CHARS,
    MAX_NOTES_CHARS,
    MAX_PATH_CHARS,
    MAX_PROCESS_NAME_CHARS,
    MAX_TAGS_CHARS,
)
from bay_mcp.managers import no_progress
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from bay_mcp.services.runs import PythonRun, ShellRun
from bay_mcp.web.app import create_http_app
from tests.fakes import FakeDriver


@dataclass(frozen=True)
class Limit:
    """One limited argument, as each surface takes it: `value` makes the arguments."""

    name: str
    limit: int
    tool: str
    tool_arguments: dict[str, Any]
    method: str
    route: str
    body: dict[str, Any] | None = None
    query: dict[str, str] | None = None

    def mcp(self, value: str) -> dict[str, Any]:
        return {k: value if v is None else v for k, v in self.tool_arguments.items()}

    def rest(self, value: str) -> dict[str, Any]:
        if self.query is not None:
            return {"params": {k: value if v == "" else v for k, v in self.query.items()}}
        assert self.body is not None
        return {"json": {k: value if v is None else v for k, v in self.body.items()}}


LIMITS = [
    Limit("code", MAX_CODE_CHARS, "python_exec", {"code": None},
          "POST", "/python/exec", body={"code": None}),
    Limit("command", MAX_COMMAND_CHARS, "shell_exec", {"command": None},
          "POST", "/shell/exec", body={"command": None}),
    Limit("cwd", MAX_PATH_CHARS, "shell_exec", {"command": "ls", "cwd": None},
          "POST", "/shell/exec", body={"command": "ls", "cwd": None}),
    Limit("path", MAX_PATH_CHARS, "write_file", {"path": None, "content": "x"},
          "PUT", "/filesystem/files", body={"path": None, "content": "x"}),
    Limit("path", MAX_PATH_CHARS, "read_file", {"path": None},
          "GET", "/filesystem/files", query={"path": ""}),
    Limit("description", MAX_DESCRIPTION_CHARS, "python_exec", {"code": "1", "description": None},
          "POST", "/python/exec", body={"code": "1", "description": None}),
    Limit("tags", MAX_TAGS_CHARS, "shell_exec", {"command": "ls", "tags": None},
          "POST", "/shell/exec", body={"command": "ls", "tags": None}),
    # Annotating a past run: refused before the run is looked up.
    Limit("description", MAX_DESCRIPTION_CHARS, "annotate_execution",
          {"execution_id": "exec-none", "description": None},
          "PATCH", "/history/exec-none", body={"description": None}),
    Limit("tags", MAX_TAGS_CHARS, "annotate_execution",
          {"execution_id": "exec-none", "tags": None},
          "PATCH", "/history/exec-none", body={"tags": None}),
    Limit("notes", MAX_NOTES_CHARS, "annotate_execution",
          {"execution_id": "exec-none", "notes": None},
          "PATCH", "/history/exec-none", body={"notes": None}),
    # Processes: refused before the sandbox starts or the process is looked up.
    Limit("command", MAX_COMMAND_CHARS, "process_start", {"command": None},
          "POST", "/processes", body={"command": None}),
    Limit("cwd", MAX_PATH_CHARS, "process_start", {"command": "ls", "cwd": None},
          "POST", "/processes", body={"command": "ls", "cwd": None}),
    Limit("name", MAX_PROCESS_NAME_CHARS, "process_start", {"command": "ls", "name": None},
          "POST", "/processes", body={"command": "ls", "name": None}),
    Limit("text", MAX_INPUT_CHARS, "process_input", {"process_id": "proc-none", "text": None},
          "POST", "/processes/proc-none/input", body={"text": None}),
]  # fmt: skip
IDS = [f"{limit.tool}.{limit.name}" for limit in LIMITS]


def oversized(limit: Limit) -> str:
    # Letters a path may hold: only the length is wrong.
    return "a" * (limit.limit + 1)


def says_the_limit(limit: Limit) -> str:
    return f"at most {limit.limit} characters"


Surfaces = tuple[BayMCPServer, httpx.AsyncClient, str]


@pytest_asyncio.fixture
async def surfaces(bay: Bay) -> AsyncIterator[Surfaces]:
    """The MCP server (a test enters its client: the SDK's client stays in one task),
    a REST client, and a sandbox both callers own."""

    async def ready() -> Bay:
        return bay

    owner = bay.settings.local_owner  # REST's owner on loopback without a key
    sandbox = await bay.sandboxes.create(owner)
    app = create_http_app(bay, loopback_bind=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as rest:
        yield create_mcp_server(ready, lambda ctx: owner), rest, sandbox.id


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


@pytest.mark.parametrize("limit", LIMITS, ids=IDS)
async def test_both_surfaces_refuse_one_character_over_the_limit_naming_it(
    surfaces: Surfaces, driver: FakeDriver, limit: Limit
) -> None:
    server, rest, sandbox_id = surfaces
    value = oversized(limit)
    async with Client(server) as mcp:
        tool = await mcp.call_tool(limit.tool, {"sandbox_id": sandbox_id, **limit.mcp(value)})
    assert tool.is_error
    assert limit.name in text_of(tool)
    assert says_the_limit(limit) in text_of(tool)
    url = f"/v1/sandboxes/{sandbox_id}{limit.route}"
    answer = await rest.request(limit.method, url, **limit.rest(value))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert limit.name in error["details"]["fields"]
    assert says_the_limit(limit) in error["message"]
    assert driver.started == 0  # refused before any session starts


async def test_the_service_refuses_what_the_surfaces_refuse(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice")
    code, command, cwd = LIMITS[0], LIMITS[1], LIMITS[2]
    notes = next(limit for limit in LIMITS if limit.name == "notes")

    async def run(request: Callable[[], PythonRun | ShellRun]) -> object:
        # The request is built when the attempt is awaited: building it is the refusal.
        return await bay.execution.run("alice", sandbox.id, request(), no_progress)

    attempts = [
        (code, run(lambda: PythonRun(code=oversized(code), timeout=30))),
        (command, run(lambda: ShellRun(command=oversized(command), timeout=30))),
        (cwd, run(lambda: ShellRun(command="ls", timeout=30, cwd=oversized(cwd)))),
        (
            notes,
            bay.history.annotate("alice", sandbox.id, "exec-none", notes=oversized(notes)),
        ),
    ]
    for limit, attempt in attempts:
        with pytest.raises(ValidationFailed) as refused:
            await attempt
        assert refused.value.details["fields"] == [limit.name]
        assert says_the_limit(limit) in refused.value.message
    assert driver.started == 0


@pytest.mark.parametrize("limit", LIMITS[:2], ids=IDS[:2])
async def test_both_surfaces_take_a_value_at_the_limit(surfaces: Surfaces, limit: Limit) -> None:
    server, rest, sandbox_id = surfaces
    value = "a" * limit.limit
    async with Client(server) as mcp:
        tool = await mcp.call_tool(limit.tool, {"sandbox_id": sandbox_id, **limit.mcp(value)})
    assert not tool.is_error, text_of(tool)[:200]
    url = f"/v1/sandboxes/{sandbox_id}{limit.route}"
    answer = await rest.request(limit.method, url, **limit.rest(value))
    assert answer.status_code == 200, answer.text[:200]
