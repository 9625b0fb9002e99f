"""show_sandbox and its MCP Apps view over the fakes: the extension is announced, the
tool names its ui:// page, the page is served as an MCP App with the ext-apps library
inlined, and a client without Apps reads the same facts as text."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.client.extension import ClientExtension, advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp_types import TextResourceContents

from bay_mcp.bay import Bay
from bay_mcp.mcp import sandbox_view
from bay_mcp.mcp.sandbox_view import VIEW_URI
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from tests.fakes import FakeDriver
from tests.unit.mcp.test_server import call, text_of


@pytest.fixture
def server(bay: Bay) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, lambda ctx: "alice")


def apps() -> list[ClientExtension]:
    """What a host that renders MCP Apps declares."""
    return [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]


async def busy_sandbox(client: Client) -> str:
    """A running sandbox with a file and a run in its history."""
    made = await call(client, "create_sandbox")
    assert made.structured_content is not None
    sandbox_id: str = made.structured_content["id"]
    await call(client, "write_file", sandbox_id=sandbox_id, path="notes.txt", content="hi\n")
    await call(client, "python_exec", sandbox_id=sandbox_id, code="print('hello')")
    return sandbox_id


async def test_the_server_announces_mcp_apps_and_binds_show_sandbox_to_its_view(
    server: BayMCPServer,
) -> None:
    async with Client(server, extensions=apps()) as client:
        announced = client.server_capabilities.extensions
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert announced is not None
    assert EXTENSION_ID in announced
    show = tools["show_sandbox"]
    assert show.meta == {"ui": {"resourceUri": VIEW_URI}}
    assert show.annotations is not None
    assert show.annotations.read_only_hint is True
    assert show.input_schema["required"] == ["sandbox_id"]
    assert show.input_schema["additionalProperties"] is False
    assert show.output_schema is not None
    assert "runs" in show.output_schema["properties"]
    assert "\n        " not in (show.description or "")


async def test_the_view_is_an_mcp_app_page_with_the_library_inlined(
    server: BayMCPServer,
) -> None:
    async with Client(server, extensions=apps()) as client:
        read = await client.read_resource(VIEW_URI)
    [page] = read.contents
    assert isinstance(page, TextResourceContents)
    assert page.mime_type == APP_MIME_TYPE
    html = page.text
    assert sandbox_view.LIBRARY_MARK not in html
    assert "globalThis.McpApps={" in html
    assert "App:" in html
    # Self-contained: a host's iframe loads nothing from elsewhere.
    assert "<script src" not in html
    assert "<link" not in html
    assert "import " not in html
    assert page.meta is None or "csp" not in page.meta.get("ui", {})  # over stdio: no origin


async def test_the_view_may_frame_previews_from_bay_s_public_url(
    server: BayMCPServer, bay: Bay
) -> None:
    bay.ports.serve_through("https://bay.example.org/base/")
    async with Client(server, extensions=apps()) as client:
        read = await client.read_resource(VIEW_URI)
    [page] = read.contents
    assert page.meta is not None
    assert page.meta["ui"]["csp"] == {"frameDomains": ["https://bay.example.org"]}
    assert page.meta["ui"]["prefersBorder"] is True


async def test_show_sandbox_gives_its_files_runs_and_previews_as_facts(
    server: BayMCPServer,
) -> None:
    async with Client(server, extensions=apps()) as client:
        sandbox_id = await busy_sandbox(client)
        shown = await call(client, "show_sandbox", sandbox_id=sandbox_id)
    facts = shown.structured_content
    assert facts is not None
    assert facts["sandbox"]["id"] == sandbox_id
    assert facts["sandbox"]["status"] == "ready"
    assert "notes.txt" in [file["name"] for file in facts["files"]]
    assert [run["code"] for run in facts["runs"]] == ["print('hello')"]
    assert facts["runs_total"] == 1
    assert facts["previews"] == []
    # An Apps host shows the view; the model reads the gist.
    assert text_of(shown).startswith(f"Showing sandbox {sandbox_id} (ready")


async def test_a_client_without_apps_reads_the_same_facts_as_text(
    server: BayMCPServer,
) -> None:
    async with Client(server) as client:
        sandbox_id = await busy_sandbox(client)
        shown = await call(client, "show_sandbox", sandbox_id=sandbox_id)
    text = text_of(shown)
    assert text.startswith(f"Sandbox {sandbox_id}: ready, profile python-default")
    assert "  notes.txt  (" in text
    assert "code: print('hello')" in text
    assert "Open previews: none" in text
    assert shown.structured_content is not None


async def test_a_stopped_sandbox_is_shown_from_its_cargo_without_starting_it(
    server: BayMCPServer, bay: Bay, driver: FakeDriver
) -> None:
    async with Client(server) as client:
        sandbox_id = await busy_sandbox(client)
        await call(client, "stop_sandbox", sandbox_id=sandbox_id)
        shown = await call(client, "show_sandbox", sandbox_id=sandbox_id)
        assert shown.structured_content is not None
        assert "notes.txt" in [file["name"] for file in shown.structured_content["files"]]
        assert (await bay.sandboxes.get("alice", sandbox_id)).status == "idle"
        # Where a cargo cannot be read without a sandbox (Kubernetes), files are not listed.
        driver.shares_volumes = False
        shown = await call(client, "show_sandbox", sandbox_id=sandbox_id)
    assert shown.structured_content is not None
    assert shown.structured_content["files"] is None
    assert "Files: not listed without starting it" in text_of(shown)
    assert (await bay.sandboxes.get("alice", sandbox_id)).status == "idle"


async def test_show_sandbox_refuses_an_unknown_sandbox_and_unknown_arguments(
    server: BayMCPServer,
) -> None:
    async with Client(server) as client:
        unknown = await client.call_tool("show_sandbox", {"sandbox_id": "sandbox-nope"})
        extra = await client.call_tool("show_sandbox", {"sandbox_id": "s", "verbose": True})
    assert unknown.is_error
    assert "not found" in text_of(unknown)
    assert extra.is_error
    assert "unknown argument verbose" in text_of(extra)
