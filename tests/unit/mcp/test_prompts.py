"""Prompts, completions and icons through the SDK's in-memory client: the workflows list
and render with their arguments, completions offer the caller's sandboxes and paths
(never another owner's), and the server, every tool, every prompt and the cargo
template carry a drawn icon."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from urllib.parse import unquote

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    Icon,
    PromptReference,
    ResourceTemplateReference,
    TextContent,
)

from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from bay_mcp.mcp import resources
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server

CARGO = ResourceTemplateReference(uri=resources.TEMPLATE)


def server_for(bay: Bay, owner: str) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, lambda ctx: owner)


@pytest.fixture
def server(bay: Bay) -> BayMCPServer:
    return server_for(bay, "alice")


async def rendered(client: Client, name: str, arguments: dict[str, str]) -> str:
    [message] = (await client.get_prompt(name, arguments)).messages
    assert message.role == "user"
    assert isinstance(message.content, TextContent)
    return message.content.text


async def test_the_workflows_are_listed_with_their_arguments(server: BayMCPServer) -> None:
    async with Client(server) as client:
        listed = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
    arguments = {
        name: [(a.name, a.required) for a in prompt.arguments or []]
        for name, prompt in listed.items()
    }
    assert arguments == {
        "analyse_data_file": [("sandbox_id", True), ("path", True)],
        "start_web_app": [
            ("sandbox_id", True),
            ("framework", False),
            ("command", False),
            ("port", False),
        ],
        "reproduce_bug": [("repository_url", True), ("description", True), ("profile", False)],
    }
    for prompt in listed.values():
        assert prompt.title, prompt.name
        assert prompt.description, prompt.name
        assert "\n    " not in prompt.description, f"{prompt.name}: indented description"


async def test_the_workflows_render_steps_naming_bays_tools(server: BayMCPServer) -> None:
    async with Client(server) as client:
        analyse = await rendered(
            client, "analyse_data_file", {"sandbox_id": "sandbox-1", "path": "data/sales.csv"}
        )
        web = await rendered(
            client,
            "start_web_app",
            {"sandbox_id": "sandbox-1", "framework": "flask", "port": "5000"},
        )
        own = await rendered(
            client, "start_web_app", {"sandbox_id": "sandbox-1", "command": "node server.js"}
        )
        bug = await rendered(
            client,
            "reproduce_bug",
            {
                "repository_url": "https://example.org/acme/widget.git",
                "description": "parse('') raises IndexError",
                "profile": "python-default",
            },
        )
        with pytest.raises(MCPError, match="sandbox_id"):
            await client.get_prompt("analyse_data_file", {"path": "a.csv"})
        with pytest.raises(MCPError, match="port"):
            await client.get_prompt("start_web_app", {"sandbox_id": "sandbox-1", "port": "http"})
    assert "sandbox sandbox-1" in analyse
    assert "data/sales.csv" in analyse
    assert "python_exec" in analyse
    assert "list_files" in analyse
    assert "flask run --host 0.0.0.0 --port 5000" in web
    assert "expose_port with port 5000" in web
    assert "process_start" in web
    assert "'node server.js'" in own
    assert "port 8000" in own
    assert "git clone --depth 50 https://example.org/acme/widget.git" in bug
    assert "parse('') raises IndexError" in bug
    assert "profile 'python-default'" in bug
    assert "snapshot_sandbox" in bug


async def test_sandbox_ids_complete_to_the_callers_newest_first(bay: Bay) -> None:
    first = await bay.sandboxes.create("alice")
    second = await bay.sandboxes.create("alice")
    others = await bay.sandboxes.create("bob")
    async with Client(server_for(bay, "alice")) as client:
        assert client.server_capabilities.completions is not None
        typed = (await client.complete(CARGO, {"name": "sandbox_id", "value": ""})).completion
        assert (typed.values, typed.total, typed.has_more) == ([second.id, first.id], 2, False)
        prompted = await client.complete(
            PromptReference(name="analyse_data_file"), {"name": "sandbox_id", "value": "sand"}
        )
        assert prompted.completion.values == [second.id, first.id]
        guessed = await client.complete(CARGO, {"name": "sandbox_id", "value": others.id})
        assert guessed.completion.values == []
    async with Client(server_for(bay, "bob")) as client:
        theirs = await client.complete(CARGO, {"name": "sandbox_id", "value": ""})
        assert theirs.completion.values == [others.id]


async def test_paths_complete_in_the_chosen_sandbox_only_the_owners(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    for written in ("data/sales.csv", "data/stock.json", "notes.md"):
        await bay.files.write_text("alice", sandbox.id, written, "x", no_progress)
    path = {"name": "path", "value": "data/s"}
    async with Client(server_for(bay, "alice")) as client:
        typed = await client.complete(CARGO, path, {"sandbox_id": sandbox.id})
        assert typed.completion.values == ["data/sales.csv", "data/stock.json"]
        prompted = await client.complete(
            PromptReference(name="analyse_data_file"), path, {"sandbox_id": sandbox.id}
        )
        assert prompted.completion.values == ["data/sales.csv", "data/stock.json"]
        unchosen = await client.complete(CARGO, path)
        assert unchosen.completion.values == []
    async with Client(server_for(bay, "bob")) as client:
        theirs = await client.complete(CARGO, path, {"sandbox_id": sandbox.id})
        assert theirs.completion.values == []


async def test_profiles_and_frameworks_complete_and_others_answer_nothing(
    server: BayMCPServer,
) -> None:
    async with Client(server) as client:
        profile = await client.complete(
            PromptReference(name="reproduce_bug"), {"name": "profile", "value": "python-o"}
        )
        assert profile.completion.values == ["python-only"]
        framework = await client.complete(
            PromptReference(name="start_web_app"), {"name": "framework", "value": "f"}
        )
        assert framework.completion.values == ["flask", "fastapi"]
        free_text = await client.complete(
            PromptReference(name="reproduce_bug"), {"name": "description", "value": "a"}
        )
        assert free_text.completion.values == []
        elsewhere = await client.complete(
            ResourceTemplateReference(uri="file:///{path}"), {"name": "sandbox_id", "value": ""}
        )
        assert elsewhere.completion.values == []


def drawn(icons: list[Icon] | None) -> bool:
    """An SVG we drew: a data URI holding well-formed SVG with no script or reference
    out."""
    assert icons, "no icon"
    for icon in icons:
        assert icon.mime_type == "image/svg+xml"
        assert icon.sizes == ["any"]
        head, _, body = icon.src.partition(",")
        assert head == "data:image/svg+xml"
        svg = unquote(body)
        root = ElementTree.fromstring(svg)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "script" not in svg
        assert "href" not in svg
        assert " " not in body
    return True


async def test_the_server_every_tool_prompt_and_the_template_carry_icons(
    server: BayMCPServer,
) -> None:
    async with Client(server) as client:
        assert client.server_info is not None
        assert drawn(client.server_info.icons)
        for tool in (await client.list_tools()).tools:
            assert drawn(tool.icons), tool.name
        for prompt in (await client.list_prompts()).prompts:
            assert drawn(prompt.icons), prompt.name
        [template] = (await client.list_resource_templates()).resource_templates
        assert drawn(template.icons)
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    # A family shares its drawing; families differ.
    assert tools["read_file"].icons == tools["write_file"].icons
    assert tools["read_file"].icons != tools["python_exec"].icons
