"""The secret tools in memory over the fakes: set, list and delete; no result nor error
carries a value (a value over the limit is refused by Bay, which does not quote it)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from bay_mcp.bay import Bay
from bay_mcp.limits import MAX_SECRET_VALUE_CHARS
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from tests.unit.mcp.test_server import call, text_of

VALUE = "mcp-unit-secret-b41d07"


@pytest.fixture
def server(bay: Bay) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, lambda ctx: "alice")


async def test_set_list_delete(server: BayMCPServer, bay: Bay) -> None:
    async with Client(server) as client:
        made = await call(client, "set_secret", name="GITHUB_TOKEN", value=VALUE)
        assert made.structured_content is not None
        assert set(made.structured_content) == {"name", "created_at", "updated_at"}
        listed = await call(client, "list_secrets")
        assert listed.structured_content is not None
        items: list[dict[str, Any]] = listed.structured_content["items"]
        assert [item["name"] for item in items] == ["GITHUB_TOKEN"]
        assert await bay.secrets.values("alice", ["GITHUB_TOKEN"]) == {"GITHUB_TOKEN": VALUE}
        deleted = await call(client, "delete_secret", name="GITHUB_TOKEN")
        assert deleted.structured_content == {
            "name": "GITHUB_TOKEN",
            "status": "deleted",
            "message": "The secret GITHUB_TOKEN is deleted.",
        }
        again = await client.call_tool("delete_secret", {"name": "GITHUB_TOKEN"})
        assert again.is_error
        assert "secret GITHUB_TOKEN not found" in text_of(again)
        for result in (made, listed, deleted):
            assert VALUE not in result.model_dump_json()


async def test_a_refused_value_is_not_quoted_back(server: BayMCPServer) -> None:
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        published = tools["set_secret"].input_schema["properties"]["value"]
        assert published["maxLength"] == MAX_SECRET_VALUE_CHARS
        for value in ("", "W" * (MAX_SECRET_VALUE_CHARS + 1)):
            refused = await client.call_tool("set_secret", {"name": "TOKEN", "value": value})
            assert refused.is_error
            assert "value must be 1–8192 characters" in text_of(refused)
            assert "WWWW" not in text_of(refused)
        bad_name = await client.call_tool("set_secret", {"name": "has space", "value": "x"})
        assert bad_name.is_error
        assert (await call(client, "list_secrets")).structured_content == {
            "items": [],
            "next_cursor": None,
        }
