"""The process and terminal tools in memory over FakeShip: listed with their hints, a
start/list/output round trip, output streamed as progress while waiting, a terminal
driven through its screen, and errors that say what to do."""

from __future__ import annotations

import asyncio
from typing import Any

from mcp import Client
from mcp_types import CallToolResult, RequestParamsMeta, TextContent

from bay_mcp.bay import Bay
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from tests.fakes import FakeShip

TOOLS = (
    "process_start", "process_list", "process_output", "process_input", "process_signal",
    "process_wait", "terminal_screen", "terminal_resize",
)  # fmt: skip
READ_ONLY = {"process_list", "process_output", "process_wait", "terminal_screen"}


def server_over(bay: Bay) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, lambda ctx: "alice")


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


async def test_the_tools_are_listed_with_their_hints_and_limits(bay: Bay) -> None:
    async with Client(server_over(bay)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in TOOLS:
        hints = tools[name].annotations
        assert hints is not None
        assert bool(hints.read_only_hint) == (name in READ_ONLY), name
        assert tools[name].input_schema["required"][0] == "sandbox_id"
        if name not in ("process_start", "process_list"):
            assert tools[name].input_schema["required"][1] == "process_id"
    start = tools["process_start"].input_schema["properties"]
    assert start["command"]["maxLength"] == 100_000
    wait = tools["process_output"].input_schema["properties"]["wait_seconds"]
    assert (wait["minimum"], wait["maximum"]) == (0, 300)
    signal = tools["process_signal"].input_schema["properties"]["signal"]
    assert "SIGTERM" in signal["enum"]
    keys = tools["process_input"].input_schema["properties"]["keys"]
    assert "Ctrl+C" in str(keys)


async def test_start_list_and_output_round_trip(bay: Bay, ship: FakeShip) -> None:
    async with Client(server_over(bay)) as client:
        sandbox_id = (await call(client, "create_sandbox"))["id"]
        started = await call(
            client, "process_start", sandbox_id=sandbox_id, command="npm run dev", name="web"
        )
        process_id = started["id"]
        assert started["state"] == "running"
        listed = await call(client, "process_list", sandbox_id=sandbox_id)
        assert [(p["id"], p["name"]) for p in listed["processes"]] == [(process_id, "web")]
        first = await client.call_tool(
            "process_output", {"sandbox_id": sandbox_id, "process_id": process_id}
        )
        assert text_of(first).startswith("$ npm run dev\n")
        assert f"{process_id} (web) · running · next since=" in text_of(first)
        assert first.structured_content is not None
        since = first.structured_content["next_offset"]
        async with bay.sandboxes.runtime("alice", sandbox_id, "shell", _quiet) as endpoint:
            ship.print(endpoint, process_id, "compiled\n")
            ship.finish(endpoint, process_id, exit_code=0)
        after = await client.call_tool(
            "process_output", {"sandbox_id": sandbox_id, "process_id": process_id, "since": since}
        )
        assert text_of(after).startswith("compiled\n")
        assert "exited with code 0" in text_of(after)
        ended = await call(client, "process_wait", sandbox_id=sandbox_id, process_id=process_id)
        assert (ended["state"], ended["exit_code"]) == ("exited", 0)


async def _quiet(message: str) -> None:
    return None


async def test_output_comes_as_progress_while_waiting(bay: Bay, ship: FakeShip) -> None:
    heard: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        heard.append(message or "")

    async with Client(server_over(bay)) as client:
        sandbox_id = (await call(client, "create_sandbox"))["id"]
        command = "for i in 1 2 3; do echo $i; sleep 1; done"
        process_id = (await call(client, "process_start", sandbox_id=sandbox_id, command=command))[
            "id"
        ]
        async with bay.sandboxes.runtime("alice", sandbox_id, "shell", _quiet) as endpoint:
            pass

        async def run() -> None:
            for line in ("1\n", "2\n", "3\n"):
                await asyncio.sleep(0.4)
                ship.print(endpoint, process_id, line)
            ship.finish(endpoint, process_id, exit_code=0)

        task = asyncio.create_task(run())
        result = await client.call_tool(
            "process_output",
            {"sandbox_id": sandbox_id, "process_id": process_id, "wait_seconds": 10},
            progress_callback=on_progress,
            # In memory the SDK sends no token of its own: say it, as a transport does.
            meta=RequestParamsMeta(progress_token="follow"),
        )
        await task
    assert not result.is_error, text_of(result)
    assert "1\n2\n3" in text_of(result)
    assert "exited with code 0" in text_of(result)
    # As it came, before the result (which has the rest, the last piece maybe only there).
    assert "1\n2\n" in "".join(heard)
    assert len([m for m in heard if m.strip()]) >= 2


async def test_a_terminal_is_driven_through_its_screen(bay: Bay) -> None:
    async with Client(server_over(bay)) as client:
        sandbox_id = (await call(client, "create_sandbox"))["id"]
        process_id = (
            await call(client, "process_start", sandbox_id=sandbox_id, command="python3 -i",
                       pty=True)
        )["id"]  # fmt: skip
        ids = {"sandbox_id": sandbox_id, "process_id": process_id}
        typed = await call(client, "process_input", **ids, text="print(6*7)", keys=["Enter"])
        assert typed["written"] == len("print(6*7)\n")
        screen = await client.call_tool("terminal_screen", ids)
        assert not screen.is_error, text_of(screen)
        assert "print(6*7)" in text_of(screen)
        assert "█" in text_of(screen)
        assert "24×80" in text_of(screen)
        resized = await call(client, "terminal_resize", **ids, rows=40, cols=120)
        assert (resized["rows"], resized["cols"]) == (40, 120)
        signalled = await call(client, "process_signal", **ids, signal="INT")
        assert signalled["sent"] is True
        assert signalled["process"]["signal"] == "SIGINT"


async def test_errors_say_what_to_do(bay: Bay) -> None:
    async with Client(server_over(bay)) as client:
        sandbox_id = (await call(client, "create_sandbox"))["id"]
        await call(client, "process_start", sandbox_id=sandbox_id, command="sleep 100")
        missing = await client.call_tool(
            "process_output", {"sandbox_id": sandbox_id, "process_id": "proc-gone"}
        )
        assert missing.is_error
        assert "process proc-gone not found" in text_of(missing)
        assert "process_list" in text_of(missing)
        nothing = await client.call_tool(
            "process_input", {"sandbox_id": sandbox_id, "process_id": "proc-gone"}
        )
        assert nothing.is_error
        assert "nothing to send" in text_of(nothing)
        outside = await client.call_tool(
            "process_start", {"sandbox_id": sandbox_id, "command": "ls", "cwd": "/etc"}
        )
        assert outside.is_error
        theirs = await client.call_tool("process_list", {"sandbox_id": "sandbox-of-bob"})
        assert theirs.is_error
        assert "not found" in text_of(theirs)
