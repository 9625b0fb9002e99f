"""Subscriptions over streamable HTTP and SSE with the SDK's own client, at 2026-07-28
(`subscriptions/listen`) and at the handshake versions (`resources/subscribe`): a
python_exec writes out.txt in a real sandbox, the subscriber hears of it once; another
owner never does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated

from tests.integration.http.conftest import HttpBay, key_headers, running_server, text_of
from tests.subscribers import Updates, next_of

Connect = Callable[..., AbstractAsyncContextManager[Client]]
# The handshake versions' subscribe calls are deprecated at 2026-07-28; served all the same.
legacy = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@asynccontextmanager
async def over_http(server: HttpBay, owner: str, **kwargs: Any) -> AsyncIterator[Client]:
    async with (
        create_mcp_http_client(headers=key_headers(server, owner)) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http), **kwargs) as c,
    ):
        yield c


@asynccontextmanager
async def over_sse(server: HttpBay, owner: str, **kwargs: Any) -> AsyncIterator[Client]:
    transport = sse_client(f"{server.url}/sse", headers=key_headers(server, owner))
    async with Client(transport, **kwargs) as c:
        yield c


async def write_with_python(c: Client, sandbox_id: str, path: str) -> None:
    code = f"open({path!r}, 'w').write('written')"
    result = await c.call_tool("python_exec", {"sandbox_id": sandbox_id, "code": code})
    assert not result.is_error, text_of(result)


@legacy
@pytest.mark.parametrize("connect", [over_http, over_sse], ids=["streamable-http", "sse"])
async def test_a_legacy_subscriber_hears_once_that_a_run_wrote_its_file(
    bay_http: HttpBay, alice: httpx.Client, connect: Connect
) -> None:
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    out, later = f"cargo://{sandbox_id}/out.txt", f"cargo://{sandbox_id}/later.txt"
    updates = Updates()
    async with connect(bay_http, "alice", mode="legacy", message_handler=updates) as c:
        assert c.server_capabilities.resources is not None
        assert c.server_capabilities.resources.subscribe is True
        await c.session.subscribe_resource(out)
        await c.session.subscribe_resource(later)
        await write_with_python(c, sandbox_id, "out.txt")
        # A later change heard after it: a second update for out.txt would come first.
        await write_with_python(c, sandbox_id, "later.txt")
        assert await updates.until(2) == [out, later]
    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204


@pytest.mark.parametrize("connect", [over_http, over_sse], ids=["streamable-http", "sse"])
async def test_a_listen_stream_hears_once_that_a_run_wrote_its_file_and_never_another_owners(
    bay_http: HttpBay, alice: httpx.Client, bob: httpx.Client, connect: Connect
) -> None:
    alices = alice.post("/v1/sandboxes", json={}).json()["id"]
    bobs = bob.post("/v1/sandboxes", json={}).json()["id"]
    out, later = f"cargo://{alices}/out.txt", f"cargo://{alices}/later.txt"
    async with connect(bay_http, "alice") as a, connect(bay_http, "bob") as b:
        if a.protocol_version < "2026-07-28":
            pytest.fail(f"{connect.__name__} negotiated {a.protocol_version}, not 2026-07-28")
        spying = b.listen(resource_subscriptions=[out, f"cargo://{bobs}/mine.txt"])
        async with a.listen(resource_subscriptions=[out, later]) as events, spying as bobs_events:
            await write_with_python(a, alices, "out.txt")
            assert await next_of(events) == ResourceUpdated(uri=out)
            await write_with_python(a, alices, "later.txt")
            assert await next_of(events) == ResourceUpdated(uri=later)
            # Bob named alice's file and wrote his own: he hears only his.
            await write_with_python(b, bobs, "mine.txt")
            assert await next_of(bobs_events) == ResourceUpdated(uri=f"cargo://{bobs}/mine.txt")
    for client, sandbox_id in ((alice, alices), (bob, bobs)):
        assert client.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204


async def test_a_file_uploaded_over_rest_reaches_a_listen_stream(
    bay_http: HttpBay, alice: httpx.Client
) -> None:
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    uri = f"cargo://{sandbox_id}/data.csv"
    async with over_http(bay_http, "alice") as c, c.listen(resource_subscriptions=[uri]) as events:
        written = alice.post(
            f"/v1/sandboxes/{sandbox_id}/filesystem/upload",
            files={"file": ("data.csv", b"a,b\n")},
            data={"path": "data.csv"},
        )
        assert written.status_code in (200, 201), written.text
        assert await next_of(events) == ResourceUpdated(uri=uri)
    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204


@legacy
async def test_stateless_http_serves_listen_and_refuses_a_legacy_subscribe_with_its_reason() -> (
    None
):
    with running_server(("alice",), BAY_STATELESS_HTTP="true") as server:
        with server.client("alice") as alice:
            sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
        out = f"cargo://{sandbox_id}/out.txt"
        async with over_http(server, "alice", mode="legacy") as c:
            with pytest.raises(MCPError) as refused:
                await c.session.subscribe_resource(out)
            assert "stateless" in refused.value.error.message
        async with (
            over_http(server, "alice") as c,
            c.listen(resource_subscriptions=[out]) as events,
        ):
            await write_with_python(c, sandbox_id, "out.txt")
            assert await next_of(events) == ResourceUpdated(uri=out)
