"""The sandbox view (MCP Apps) for real: the SDK's client, declaring Apps, reads
show_sandbox's ui:// page from a real Bay over HTTP; Chromium renders it inside a test
host built on the ext-apps library's AppBridge (tests/integration/apps_host), and the
page's buttons call Bay's tools through the bridge. The host relays each call to
`relayCallTool`, a Playwright-exposed Python function that makes it with the same MCP
client, so the page reaches Bay through MCP only and never holds a key."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.client.streamable_http import streamable_http_client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult, TextResourceContents
from playwright.async_api import Route, async_playwright, expect

from tests.integration.http.conftest import HttpBay, key_headers, running_server, text_of

HOST_DIR = Path(__file__).parents[1] / "apps_host"
HOST_ORIGIN = "http://apps-host.test"  # served by page.route: no server runs
SCREENSHOT = Path(__file__).parents[3] / "docs" / "images" / "mcp-app-view.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    # Bay's public URL is loopback here: Chromium's Local Network Access checks would
    # refuse a loopback preview framed in the host's opaque-origin iframe (a deployed Bay
    # serves previews from its public URL, which they leave alone).
    "--disable-features=LocalNetworkAccessChecks",
]  # fmt: skip
# Waits on the page poll until this deadline (ms): a run starts a kernel, plots, answers.
DEADLINE_MS = 90_000

SETUP = """\
import matplotlib.pyplot as plt
with open("cities.csv", "w") as f:
    f.write("city,temp\\nParis,21.5\\nOslo,12.0\\n")
plt.figure(figsize=(4, 2.5)); plt.bar(["Paris", "Oslo"], [21.5, 12.0]); plt.title("temps")
plt.savefig("temps.png", dpi=80); plt.close("all")
print("wrote cities.csv and temps.png")
"""
BUTTON_RUN = """\
import matplotlib.pyplot as plt
print("ran from the view's button")
plt.figure(figsize=(3, 2)); plt.plot([1, 2, 3], [3, 1, 2]); plt.show()
"""


@pytest.fixture(scope="module")
def bay_apps() -> Iterator[HttpBay]:
    with running_server(("alice",), BAY_ALLOW_ANONYMOUS="false") as server:
        yield server


@asynccontextmanager
async def apps_client(server: HttpBay, owner: str) -> AsyncIterator[Client]:
    """An MCP client that declares MCP Apps, as a host that renders them does."""
    apps = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
    async with (
        create_mcp_http_client(headers=key_headers(server, owner)) as http,
        Client(
            streamable_http_client(f"{server.url}/mcp", http_client=http), extensions=[apps]
        ) as client,
    ):
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return result


def wire(result: CallToolResult) -> dict[str, Any]:
    """A tool result as it travels in JSON-RPC (camelCase, nulls left out)."""
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def serve_host_file(route: Route) -> None:
    name = route.request.url.removeprefix(f"{HOST_ORIGIN}/")
    path = HOST_DIR / name
    if name not in ("host.html", "app-bridge.js"):
        await route.fulfill(status=404)
        return
    kind = "text/html" if name.endswith(".html") else "text/javascript"
    await route.fulfill(body=path.read_bytes(), content_type=kind)


async def test_the_view_renders_the_sandbox_and_its_buttons_call_bay(
    bay_apps: HttpBay, tmp_path: Path
) -> None:
    async with apps_client(bay_apps, "alice") as client:
        assert EXTENSION_ID in (client.server_capabilities.extensions or {})
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert tools["show_sandbox"].meta is not None
        view_uri = tools["show_sandbox"].meta["ui"]["resourceUri"]
        made = await call(client, "create_sandbox")
        assert made.structured_content is not None
        sandbox_id = made.structured_content["id"]
        await call(client, "python_exec", sandbox_id=sandbox_id, code=SETUP)
        await call(
            client, "process_start", sandbox_id=sandbox_id, command="python3 -m http.server 8000"
        )
        preview = await call(client, "expose_port", sandbox_id=sandbox_id, port=8000)
        assert preview.structured_content is not None
        shown = await call(client, "show_sandbox", sandbox_id=sandbox_id)
        [page_html] = (await client.read_resource(view_uri)).contents
        assert isinstance(page_html, TextResourceContents)
        assert page_html.mime_type == APP_MIME_TYPE
        assert page_html.meta is not None
        assert page_html.meta["ui"]["csp"]["frameDomains"] == [bay_apps.url]

        relayed: list[str] = []

        async def relay_call_tool(params: dict[str, Any]) -> dict[str, Any]:
            relayed.append(params["name"])
            result = await client.call_tool(params["name"], params.get("arguments") or {})
            return wire(result)

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # Tall enough for the whole view: Chromium paints a cross-process frame
                # only where it is in the viewport, and the screenshot shows all of it.
                page = await browser.new_page(viewport={"width": 900, "height": 2400})
                await page.route(f"{HOST_ORIGIN}/**", serve_host_file)
                await page.expose_function("relayCallTool", relay_call_tool)
                await page.goto(f"{HOST_ORIGIN}/host.html")
                await page.wait_for_function("typeof window.startHost === 'function'")
                await page.evaluate(
                    "([html, meta, input, result]) => window.startHost(html, meta, input, result)",
                    [
                        page_html.text,
                        page_html.meta,
                        {"sandbox_id": sandbox_id},
                        wire(shown),
                    ],
                )
                view = page.frame_locator("#app")
                # What show_sandbox gave: files, the run with its output, the image, the preview.
                await expect(view.locator("#title")).to_have_text(sandbox_id)
                await expect(view.locator(".file", has_text="cities.csv")).to_be_visible()
                await expect(view.locator(".file", has_text="temps.png")).to_be_visible()
                await expect(view.locator("pre.output").first).to_contain_text(
                    "wrote cities.csv and temps.png"
                )
                # The image file, read with read_file through the bridge, shown inline.
                thumbnail = view.locator(".thumbs img")
                await expect(thumbnail).to_have_count(1, timeout=DEADLINE_MS)
                assert await thumbnail.evaluate("image => image.naturalWidth") > 0
                preview_url = preview.structured_content["url"]
                await expect(view.locator(".preview button.link")).to_have_text(preview_url)
                await expect(view.locator("iframe.preview")).to_have_attribute("src", preview_url)
                framed = view.frame_locator("iframe.preview").locator("h1")
                await expect(framed).to_contain_text("Directory listing", timeout=DEADLINE_MS)

                # A file opened by its button: read_file through the bridge.
                await view.locator(".file", has_text="cities.csv").click()
                await expect(view.locator("pre.opened-text")).to_contain_text("Paris,21.5")

                # The run button: python_exec through the bridge, its text and figure shown,
                # then the view refreshed with the new run on top.
                await view.locator("#code").fill(BUTTON_RUN)
                await view.locator("#run").click()
                await expect(view.locator("pre.run-result")).to_contain_text(
                    "ran from the view's button", timeout=DEADLINE_MS
                )
                await expect(view.locator("#result img")).to_have_count(1)
                await expect(view.locator("pre.code").first).to_contain_text(
                    "ran from the view's button", timeout=DEADLINE_MS
                )
                # The run's figure, as its history keeps it, through the app-only tool.
                figure = view.locator(".run .thumbs img")
                await expect(figure).to_have_count(1, timeout=DEADLINE_MS)
                assert await figure.evaluate("image => image.naturalWidth") > 0
                shot = (
                    SCREENSHOT
                    if os.environ.get("BAY_UPDATE_DOCS") == "1"
                    else tmp_path / SCREENSHOT.name
                )
                shot.parent.mkdir(parents=True, exist_ok=True)
                await page.locator("#app").screenshot(path=str(shot))
            finally:
                await browser.close()

        assert "read_file" in relayed
        assert "python_exec" in relayed
        assert "show_sandbox" in relayed
        assert "show_run_pictures" in relayed
        # Bay's history has the run the button made.
        history = await call(client, "get_execution_history", sandbox_id=sandbox_id, limit=1)
        assert history.structured_content is not None
        [latest] = history.structured_content["entries"]
        assert "ran from the view's button" in latest["output"]
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_a_client_without_apps_gets_the_facts_as_text(bay_apps: HttpBay) -> None:
    async with (
        create_mcp_http_client(headers=key_headers(bay_apps, "alice")) as http,
        Client(streamable_http_client(f"{bay_apps.url}/mcp", http_client=http)) as client,
    ):
        made = await call(client, "create_sandbox")
        assert made.structured_content is not None
        sandbox_id = made.structured_content["id"]
        await call(client, "write_file", sandbox_id=sandbox_id, path="hello.txt", content="hi")
        await call(client, "python_exec", sandbox_id=sandbox_id, code="print(6 * 7)")
        shown = await call(client, "show_sandbox", sandbox_id=sandbox_id)
        text = text_of(shown)
        assert text.startswith(f"Sandbox {sandbox_id}: ready")
        assert "  hello.txt  (2 bytes)" in text
        assert "code: print(6 * 7)" in text
        assert "output: 42" in text
        # Stopped, it is shown from its cargo and stays stopped.
        await call(client, "stop_sandbox", sandbox_id=sandbox_id)
        text = text_of(await call(client, "show_sandbox", sandbox_id=sandbox_id))
        assert text.startswith(f"Sandbox {sandbox_id}: idle")
        assert "  hello.txt  (2 bytes)" in text
        assert bay_apps.containers(sandbox_id=sandbox_id) == []
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
