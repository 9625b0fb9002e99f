"""The MCP surface in memory: the SDK's own Client against create_mcp_server over the
fakes. Every tool's schema, its result and its error shape, without Docker."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from mcp import Client
from mcp_types import CallToolResult, ImageContent, TextContent, TextResourceContents

from bay_mcp.bay import Bay
from bay_mcp.mcp.server import BayMCPServer, LiveOutput, create_mcp_server
from ship import protocol
from tests.fakes import FakeShip

TOOLS = {
    "create_sandbox", "list_sandboxes", "get_sandbox", "stop_sandbox", "delete_sandbox",
    "extend_sandbox_ttl", "list_profiles", "python_exec", "run_code", "shell_exec", "read_file",
    "write_file", "edit_file", "list_files", "delete_file", "get_execution_history",
    "get_execution", "annotate_execution", "browser_navigate", "browser_snapshot",
    "browser_click", "browser_type", "browser_press", "browser_select", "browser_screenshot",
    "browser_evaluate", "browser_tabs", "run_browser_skill", "expose_port", "list_ports",
    "unexpose_port",
    "snapshot_sandbox", "list_snapshots", "restore_snapshot", "delete_snapshot", "fork_sandbox",
    "process_start", "process_list", "process_output", "process_input", "process_signal",
    "process_wait", "terminal_screen", "terminal_resize", "terminal_link",
    "create_skill_payload", "get_skill_payload", "create_skill_candidate",
    "evaluate_skill_candidate", "promote_skill_candidate", "list_skill_candidates",
    "list_skill_releases", "delete_skill_release", "delete_skill_candidate",
    "rollback_skill_release", "set_secret", "list_secrets", "delete_secret",
    "get_egress_log", "show_sandbox", "show_run_pictures",
}  # fmt: skip
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def server(bay: Bay) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, lambda ctx: "alice")


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return result


async def new_sandbox(client: Client) -> str:
    made = await call(client, "create_sandbox")
    assert made.structured_content is not None
    sandbox_id: str = made.structured_content["id"]
    return sandbox_id


async def test_every_tool_is_listed_with_a_clean_description_and_schema(
    server: BayMCPServer,
) -> None:
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.description, tool.name
            assert "\n    " not in tool.description, f"{tool.name}: indented description"
            assert tool.input_schema["type"] == "object"
        timeout = tools["python_exec"].input_schema["properties"]["timeout"]
        assert (timeout["minimum"], timeout["maximum"], timeout["default"]) == (1, 300, 30)
        assert tools["python_exec"].input_schema["required"] == ["sandbox_id", "code"]
        assert tools["read_file"].annotations is not None
        assert tools["read_file"].annotations.read_only_hint is True


async def test_sandbox_tools_return_structured_views(server: BayMCPServer) -> None:
    async with Client(server) as client:
        sandbox_id = await new_sandbox(client)
        listed = await call(client, "list_sandboxes")
        assert listed.structured_content is not None
        assert [s["id"] for s in listed.structured_content["sandboxes"]] == [sandbox_id]
        got = await call(client, "get_sandbox", sandbox_id=sandbox_id)
        assert got.structured_content is not None
        assert got.structured_content["status"] == "idle"
        profiles = await call(client, "list_profiles")
        assert profiles.structured_content is not None
        assert [p["id"] for p in profiles.structured_content["profiles"]] == [
            "python-default", "python-only"
        ]  # fmt: skip
        stopped = await call(client, "stop_sandbox", sandbox_id=sandbox_id)
        assert stopped.structured_content == {
            "sandbox_id": sandbox_id, "status": "stopped",
            "message": "The container is stopped; files in /workspace are kept.",
        }  # fmt: skip
        refused = await client.call_tool("extend_sandbox_ttl", {"sandbox_id": sandbox_id,
                                                                "seconds": 60})  # fmt: skip
        assert refused.is_error
        assert "without" in text_of(refused) or "TTL" in text_of(refused)
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
        gone = await client.call_tool("get_sandbox", {"sandbox_id": sandbox_id})
        assert gone.is_error
        assert "deleted" in text_of(gone)


async def test_execs_render_text_images_and_failures(server: BayMCPServer, ship: FakeShip) -> None:
    async with Client(server) as client:
        sandbox_id = await new_sandbox(client)
        ran = await call(client, "python_exec", sandbox_id=sandbox_id, code="1+1")
        assert text_of(ran) == "ran 1+1"
        assert ran.structured_content is not None
        assert ran.structured_content["success"] is True
        ship.python_answer = protocol.PythonExecResult(
            success=False,
            images=[protocol.PngImage(png=base64.b64encode(PNG).decode())],
            error=protocol.PythonError(ename="ZeroDivisionError", evalue="division by zero",
                                       traceback=["Traceback …", "ZeroDivisionError: boom"]),
        )  # fmt: skip
        failed = await call(client, "python_exec", sandbox_id=sandbox_id, code="1/0")
        assert "ZeroDivisionError: boom" in text_of(failed)
        assert any(isinstance(block, ImageContent) for block in failed.content)
        assert failed.structured_content is not None
        assert failed.structured_content["success"] is False
        shell = await call(client, "shell_exec", sandbox_id=sandbox_id, command="ls", cwd="sub")
        assert text_of(shell) == "sub$ ls\n[exit code 0]"


async def test_rich_outputs_are_in_place_as_image_blocks_and_listed_by_mime_type(
    server: BayMCPServer, ship: FakeShip
) -> None:
    png = base64.b64encode(PNG).decode()
    chart = protocol.BarChart(type="bar", elements=[protocol.Bar(label="a", group="g", value=2.0)])
    ship.python_answer = protocol.PythonExecResult(
        success=True,
        output="   a\n0  1\nend\n",
        outputs=[
            protocol.RichOutput(
                mime_type="text/html", data="<table/>", text="| a |\n|---|\n| 1 |",
                path=".bay/outputs/display-1.html", offset=0, replaces=len("   a\n0  1\n"),
            ),
            protocol.RichOutput(mime_type="image/svg+xml", data="<svg/>", png=png, offset=10),
            protocol.RichOutput(mime_type="image/jpeg", data="/9j/", offset=10),
            protocol.RichOutput(mime_type="image/png", data=png, chart=chart, offset=10),
        ],
    )  # fmt: skip
    async with Client(server) as client:
        sandbox_id = await new_sandbox(client)
        ran = await call(client, "python_exec", sandbox_id=sandbox_id, code="show()")
    assert text_of(ran) == (
        "| a |\n|---|\n| 1 |\n[HTML saved at .bay/outputs/display-1.html]\n"
        "[image 1 (SVG, shown as PNG) is shown below]\n"
        "[image 2 (image/jpeg) is shown below]\n"
        "[image 3 (image/png) is shown below]\n[chart: bar; x: -; y: -]\n"
        '  "g": "a" 2\nend'
    )
    images = [block for block in ran.content if isinstance(block, ImageContent)]
    assert [image.mime_type for image in images] == ["image/png", "image/jpeg", "image/png"]
    assert ran.structured_content is not None
    assert ran.structured_content["outputs"] == [
        {"mime_type": "text/html", "path": ".bay/outputs/display-1.html", "chart": None},
        {"mime_type": "image/svg+xml", "path": None, "chart": None},
        {"mime_type": "image/jpeg", "path": None, "chart": None},
        {"mime_type": "image/png", "path": None, "chart": chart.wire()},
    ]


async def test_long_output_is_cut_and_saved_whole(
    bay: Bay, server: BayMCPServer, ship: FakeShip
) -> None:
    async with Client(server) as client:
        sandbox_id = await new_sandbox(client)
        long = "line\n" * 10_000
        ship.python_answer = protocol.PythonExecResult(success=True, output=long)
        ran = await call(client, "python_exec", sandbox_id=sandbox_id, code="flood()")
        text = text_of(ran)
        assert len(text) < bay.settings.output_limit_chars + 1000
        assert ".bay/outputs/" in text
        assert ran.structured_content is not None
        assert ran.structured_content["truncated"] is True
        saved = [path for store in ship.files.values() for path in store]
        assert len(saved) == 1
        assert saved[0].startswith(".bay/outputs/exec-")
        assert b"".join(store[saved[0]] for store in ship.files.values()) == long.encode()


async def test_file_tools_text_images_binaries_and_errors(
    server: BayMCPServer, ship: FakeShip
) -> None:
    async with Client(server) as client:
        sandbox_id = await new_sandbox(client)
        await call(
            client, "write_file", sandbox_id=sandbox_id, path="a/b.txt", content="one\ntwo\n"
        )
        read = await call(client, "read_file", sandbox_id=sandbox_id, path="a/b.txt")
        assert text_of(read) == "one\ntwo\n"
        window = await call(client, "read_file", sandbox_id=sandbox_id, path="a/b.txt", limit=1)
        assert text_of(window).startswith("one\n\n[Showing lines 1–1 of 2")
        edited = await call(client, "edit_file", sandbox_id=sandbox_id, path="a/b.txt",
                            old_string="two", new_string="2")  # fmt: skip
        assert edited.structured_content == {"path": "a/b.txt", "replacements": 1, "size": 6}
        listed = await call(client, "list_files", sandbox_id=sandbox_id)
        assert listed.structured_content is not None
        assert [e["name"] for e in listed.structured_content["entries"]] == ["a"]
        [endpoint] = ship.files
        ship.files[endpoint]["pic.png"] = PNG
        ship.files[endpoint]["blob.bin"] = b"\xff\xfe\x00"
        image = await call(client, "read_file", sandbox_id=sandbox_id, path="pic.png")
        assert isinstance(image.content[0], ImageContent)
        assert image.content[0].mime_type == "image/png"
        binary = await call(client, "read_file", sandbox_id=sandbox_id, path="blob.bin")
        assert f"cargo://{sandbox_id}/blob.bin" in text_of(binary)
        assert "3 bytes" in text_of(binary)
        await call(client, "delete_file", sandbox_id=sandbox_id, path="a")
        for tool, arguments in [
            ("read_file", {"path": "a/b.txt"}),
            ("read_file", {"path": "../etc/passwd"}),
            ("edit_file", {"path": "blob.bin", "old_string": "x", "new_string": "y"}),
            ("write_file", {"path": "/abs.txt", "content": "x"}),
        ]:
            failed = await client.call_tool(tool, {"sandbox_id": sandbox_id, **arguments})
            assert failed.is_error, (tool, arguments)
            assert text_of(failed), (tool, arguments)


async def test_resources_list_sandboxes_and_read_files(
    server: BayMCPServer, ship: FakeShip
) -> None:
    async with Client(server) as client:
        sandbox_id = await new_sandbox(client)
        await call(client, "write_file", sandbox_id=sandbox_id, path="notes/n.md", content="# n")
        listed = await client.list_resources()
        assert [str(r.uri) for r in listed.resources] == [f"cargo://{sandbox_id}/"]
        [text] = (await client.read_resource(f"cargo://{sandbox_id}/notes/n.md")).contents
        assert isinstance(text, TextResourceContents)
        assert (text.text, text.mime_type) == ("# n", "text/markdown")
        [directory] = (await client.read_resource(f"cargo://{sandbox_id}/notes")).contents
        assert isinstance(directory, TextResourceContents)
        assert [e["name"] for e in json.loads(directory.text)["entries"]] == ["n.md"]


@pytest.mark.parametrize(
    ("tool", "arguments", "says"),
    [
        ("python_exec", {"sandbox_id": "sandbox-nope", "code": "1"}, "not found"),
        ("create_sandbox", {"profile": "nope"}, "unknown profile"),
        ("python_exec", {"sandbox_id": "x", "code": "1", "timeout": 301}, "301"),
        ("run_code", {"sandbox_id": "x", "code": "1", "language": "cobol"}, "language"),
    ],
)
async def test_errors_are_tool_errors_that_say_what_to_do(
    server: BayMCPServer, tool: str, arguments: dict[str, Any], says: str
) -> None:
    async with Client(server) as client:
        failed = await client.call_tool(tool, arguments)
        assert failed.is_error
        assert says in text_of(failed)


async def test_an_unexpected_failure_is_an_incident_not_a_traceback(
    server: BayMCPServer, ship: FakeShip, caplog: pytest.LogCaptureFixture
) -> None:
    async with Client(server) as client:
        sandbox_id = await new_sandbox(client)

        async def broken(*args: object, **kwargs: object) -> protocol.FileText:
            raise RuntimeError("secret internals")

        ship.read_file = broken  # type: ignore[method-assign]
        edit = {"old_string": "a", "new_string": "b"}
        for tool, extra in (("read_file", {}), ("edit_file", edit)):
            arguments = {"sandbox_id": sandbox_id, "path": "x.txt", **extra}
            failed = await client.call_tool(tool, arguments)
            assert failed.is_error
            assert "incident" in text_of(failed)
            assert "secret internals" not in text_of(failed)


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("create_sandbox", {"ttl_second": 60}),
        ("list_sandboxes", {"state": "idle"}),
        ("list_profiles", {"verbose": True}),
        ("python_exec", {"sandbox_id": "s", "code": "1", "timout": 5}),
        ("run_code", {"sandbox_id": "s", "code": "1", "lang": "r"}),
        ("shell_exec", {"sandbox_id": "s", "command": "ls", "working_dir": "."}),
        ("read_file", {"sandbox_id": "s", "path": "a", "lines": 3}),
        ("write_file", {"sandbox_id": "s", "path": "a", "content": "x", "mode": "w"}),
        ("edit_file", {"sandbox_id": "s", "path": "a", "old_string": "a", "new_string": "b",
                       "count": 1}),
        ("list_files", {"sandbox_id": "s", "recursive": True}),
        ("delete_file", {"sandbox_id": "s", "path": "a", "force": True}),
        ("get_sandbox", {"sandbox_id": "s", "verbose": True}),
        ("stop_sandbox", {"sandbox_id": "s", "now": True}),
        ("delete_sandbox", {"sandbox_id": "s", "now": True}),
        ("extend_sandbox_ttl", {"sandbox_id": "s", "seconds": 5, "minutes": 1}),
        ("get_execution_history", {"sandbox_id": "s", "kind": "python"}),
        ("get_execution", {"sandbox_id": "s", "execution_id": "e", "full": True}),
        ("annotate_execution", {"sandbox_id": "s", "execution_id": "e", "note": "x"}),
        ("browser_navigate", {"sandbox_id": "s", "url": "http://x", "wait": True}),
        ("browser_snapshot", {"sandbox_id": "s", "interactive": True}),
        ("browser_click", {"sandbox_id": "s", "ref": "e1", "button": "left"}),
        ("browser_type", {"sandbox_id": "s", "ref": "e1", "text": "x", "enter": True}),
        ("browser_press", {"sandbox_id": "s", "key": "Enter", "selector": "a"}),
        ("browser_select", {"sandbox_id": "s", "ref": "e1", "values": ["a"], "value": "a"}),
        ("browser_screenshot", {"sandbox_id": "s", "fullpage": True}),
        ("browser_evaluate", {"sandbox_id": "s", "expression": "1", "function": "x"}),
        ("browser_tabs", {"sandbox_id": "s", "tab": 1}),
        ("snapshot_sandbox", {"sandbox_id": "s", "label": "before"}),
        ("list_snapshots", {"sandbox_id": "s", "newest_first": True}),
        ("restore_snapshot", {"sandbox_id": "s", "snapshot_id": "snap-1", "force": True}),
        ("delete_snapshot", {"sandbox_id": "s", "snapshot": "snap-1"}),
        ("fork_sandbox", {"sandbox_id": "s", "from_snapshot": "snap-1"}),
        ("expose_port", {"sandbox_id": "s", "port": 8000, "public": True}),
        ("list_ports", {"sandbox_id": "s", "all": True}),
        ("unexpose_port", {"sandbox_id": "s", "port": 8000, "force": True}),
        ("process_start", {"sandbox_id": "s", "command": "ls", "background": True}),
        ("process_list", {"sandbox_id": "s", "running": True}),
        ("process_output", {"sandbox_id": "s", "process_id": "p", "offset": 0}),
        ("process_input", {"sandbox_id": "s", "process_id": "p", "text": "x", "enter": True}),
        ("process_signal", {"sandbox_id": "s", "process_id": "p", "sig": "TERM"}),
        ("process_wait", {"sandbox_id": "s", "process_id": "p", "wait_seconds": 5}),
        ("terminal_screen", {"sandbox_id": "s", "process_id": "p", "colors": True}),
        ("terminal_resize", {"sandbox_id": "s", "process_id": "p", "rows": 30, "cols": 100,
                             "width": 100}),
        ("terminal_link", {"sandbox_id": "s", "process_id": "p", "ttl": 60}),
    ],
)  # fmt: skip
async def test_a_misspelt_argument_is_an_error_naming_it(
    server: BayMCPServer, tool: str, arguments: dict[str, Any]
) -> None:
    async with Client(server) as client:
        [unknown] = set(arguments) - {"sandbox_id", "code", "command", "path", "content",
                                      "old_string", "new_string", "seconds",
                                      "execution_id", "url", "ref", "text", "key",
                                      "values", "expression", "snapshot_id", "port",
                                      "process_id", "rows", "cols"}  # fmt: skip
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert listed[tool].input_schema["additionalProperties"] is False
        failed = await client.call_tool(tool, arguments)
        assert failed.is_error
        assert f"unknown argument {unknown}" in text_of(failed)
        assert "this tool takes" in text_of(failed)


async def test_history_tools_list_show_and_annotate_runs(server: BayMCPServer) -> None:
    async with Client(server) as client:
        sandbox_id = await new_sandbox(client)
        ran = await call(client, "python_exec", sandbox_id=sandbox_id, code="x = 1",
                         description="set x", tags="setup")  # fmt: skip
        await call(client, "shell_exec", sandbox_id=sandbox_id, command="ls")
        listed = await call(client, "get_execution_history", sandbox_id=sandbox_id)
        assert listed.structured_content is not None
        entries = listed.structured_content["entries"]
        assert [e["exec_type"] for e in entries] == ["shell", "python"]
        execution_id = entries[1]["id"]
        assert ran.structured_content is not None
        got = await call(client, "get_execution", sandbox_id=sandbox_id,
                         execution_id=execution_id)  # fmt: skip
        assert got.structured_content is not None
        assert (got.structured_content["code"], got.structured_content["tags"]) == (
            "x = 1", "setup"
        )  # fmt: skip
        noted = await call(client, "annotate_execution", sandbox_id=sandbox_id,
                           execution_id=execution_id, notes="worked")  # fmt: skip
        assert noted.structured_content is not None
        assert noted.structured_content["notes"] == "worked"
        assert noted.structured_content["description"] == "set x"
        python_only = await call(client, "get_execution_history", sandbox_id=sandbox_id,
                                 exec_type="python", tags="setup")  # fmt: skip
        assert python_only.structured_content is not None
        assert python_only.structured_content["total"] == 1
        nope = {"sandbox_id": sandbox_id, "execution_id": "exec-nope"}
        missing = await client.call_tool("get_execution", nope)
        assert missing.is_error
        assert "not found" in text_of(missing)


def test_live_output_is_gathered_and_capped_at_the_result_size() -> None:
    live = LiveOutput(limit=10)
    assert live.take() is None
    live.add("abc")
    live.add("def")
    assert live.take() == "abcdef"
    live.add("ghijklmn")
    assert live.take() == "ghij\n[live output stops here; the result has the rest]\n"
    live.add("more")
    assert live.take() is None
