"""Every capability the server announces is served, at 2026-07-28 (`server/discover`)
and at the legacy version (`initialize`): each method the announcement implies is
called once, and none answers Method not found (tests/announced.py)."""

from __future__ import annotations

import pytest
from mcp import Client

from bay_mcp.bay import Bay
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from tests.announced import call_every_announced


@pytest.fixture
def server(bay: Bay) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, lambda ctx: "alice")


# "auto" asks `server/discover` (2026-07-28); a pinned version would skip the
# announcement.
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_announced_capability_is_served(server: BayMCPServer, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        assert (client.protocol_version == "2026-07-28") == (mode == "auto")
        made = await client.call_tool("create_sandbox", {})
        assert not made.is_error
        called = await call_every_announced(client)
    # What Bay announces today, at the least (others add prompts, completions, ...).
    assert {"tools/list", "resources/list", "resources/templates/list", "resources/read"} <= set(
        called
    )
    if mode == "auto":
        assert "subscriptions/listen" in called


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_capability_announced_and_not_served_fails_the_check(
    server: BayMCPServer, mode: str
) -> None:
    # Resources stay announced (resources/list is served); their templates are not.
    del server._lowlevel_server._request_handlers["resources/templates/list"]
    async with Client(server, mode=mode) as client:
        assert client.server_capabilities.resources is not None
        await client.call_tool("create_sandbox", {})
        with pytest.raises(
            AssertionError, match=r"Method not found: \['resources/templates/list'\]"
        ):
            await call_every_announced(client)
