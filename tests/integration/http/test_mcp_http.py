"""MCP over streamable HTTP and SSE, with the SDK's own clients, behind API keys."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.announced import call_every_announced
from tests.integration.http.conftest import (
    HttpBay,
    error_of,
    key_headers,
    mcp_http,
    mcp_sse,
    text_of,
)
from tests.integration.http.test_replicas import INTERRUPTIBLE, until_listed


async def test_a_rest_sandbox_is_used_over_streamable_http_and_sse(
    bay_http: HttpBay, alice: httpx.Client
) -> None:
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    async with mcp_http(bay_http, "alice") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {"python_exec", "shell_exec", "read_file", "create_sandbox"} <= tools
        result = await client.call_tool(
            "python_exec", {"sandbox_id": sandbox_id, "code": "shared = 'over http'\nshared"}
        )
        assert not result.is_error, text_of(result)
        assert "over http" in text_of(result)
        resources = await client.list_resources()
        assert f"cargo://{sandbox_id}/" in [str(r.uri) for r in resources.resources]
    async with mcp_sse(bay_http, "alice") as client:
        result = await client.call_tool(
            "python_exec", {"sandbox_id": sandbox_id, "code": "print(shared, 'and sse')"}
        )
        assert not result.is_error, text_of(result)
        assert "over http and sse" in text_of(result)
        written = await client.call_tool(
            "write_file", {"sandbox_id": sandbox_id, "path": "from-sse.txt", "content": "s"}
        )
        assert not written.is_error
    read = alice.get(
        f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": "from-sse.txt"}
    )
    assert read.json() == {"content": "s"}
    assert len(bay_http.containers(sandbox_id=sandbox_id)) == 1
    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204


async def test_owners_are_isolated_over_mcp(
    bay_http: HttpBay, alice: httpx.Client, bob: httpx.Client
) -> None:
    async with mcp_http(bay_http, "bob") as client:
        made = await client.call_tool("create_sandbox", {})
        assert made.structured_content is not None
        bobs = made.structured_content["id"]
    alices = alice.post("/v1/sandboxes", json={}).json()["id"]

    error_of(alice.get(f"/v1/sandboxes/{bobs}"), 404, "not_found")
    assert bob.get(f"/v1/sandboxes/{bobs}").status_code == 200
    for connect in (mcp_http, mcp_sse):
        async with connect(bay_http, "bob") as client:
            refused = await client.call_tool("python_exec", {"sandbox_id": alices, "code": "1"})
            assert refused.is_error
            assert "not found" in text_of(refused)
            listed = await client.call_tool("list_sandboxes", {})
            assert listed.structured_content is not None
            ids = [s["id"] for s in listed.structured_content["sandboxes"]]
            assert alices not in ids
            assert bobs in ids
            resources = await client.list_resources()
            assert f"cargo://{alices}/" not in [str(r.uri) for r in resources.resources]
    assert bay_http.containers(sandbox_id=alices) == []
    alice.delete(f"/v1/sandboxes/{alices}")
    bob.delete(f"/v1/sandboxes/{bobs}")


@pytest.mark.parametrize("path", ["/mcp", "/sse"])
def test_mcp_without_a_key_is_401(bay_http: HttpBay, path: str) -> None:
    with bay_http.client() as anonymous:
        method = "POST" if path == "/mcp" else "GET"
        error_of(anonymous.request(method, path, json={}), 401, "unauthorized")


# The SDK's client speaks 2026-07-28 over SSE as well when the server offers it ("auto").
@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_every_announced_capability_is_served_over_http(
    bay_http: HttpBay, alice: httpx.Client, transport: str, mode: str
) -> None:
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    headers = key_headers(bay_http, "alice")
    async with contextlib.AsyncExitStack() as stack:
        if transport == "sse":
            streams = sse_client(f"{bay_http.url}/sse", headers=headers)
        else:
            http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            streams = streamable_http_client(f"{bay_http.url}/mcp", http_client=http)
        client = await stack.enter_async_context(Client(streams, mode=mode))
        modern = client.protocol_version == "2026-07-28"
        assert modern == (mode == "auto")
        called = await call_every_announced(client)
    assert {"tools/list", "resources/list", "resources/read"} <= set(called)
    assert ("subscriptions/listen" in called) == modern
    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204


async def test_a_legacy_client_cancels_a_run_over_its_session(
    bay_http: HttpBay, alice: httpx.Client
) -> None:
    """Before 2026-07-28 a client cancels with a `notifications/cancelled` of its own:
    only the session running the call acts on it, which is why these clients need
    stateful sessions routed by `Mcp-Session-Id` (docs/deployment.md#replicas)."""
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    headers = key_headers(bay_http, "alice")
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(
            streamable_http_client(f"{bay_http.url}/mcp", http_client=http), mode="legacy"
        ) as client,
    ):
        running = asyncio.create_task(
            client.call_tool(
                "python_exec", {"sandbox_id": sandbox_id, "code": INTERRUPTIBLE, "timeout": 300}
            )
        )
        await until_listed(client, sandbox_id, "started.txt")
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await until_listed(client, sandbox_id, "interrupted.txt")
    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204
