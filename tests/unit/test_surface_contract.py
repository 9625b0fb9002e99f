"""The published surfaces held to golden copies: every MCP tool as `tools/list` gives it
(name, description, schemas, annotations) and REST's OpenAPI document. A change to
either is deliberate: rerun with BAY_UPDATE_GOLDEN=1 and review the diff of
tests/unit/golden/."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from mcp import Client

from bay_mcp.bay import Bay
from bay_mcp.mcp.server import create_mcp_server
from bay_mcp.web.app import create_http_app

GOLDEN = Path(__file__).parent / "golden"


def held_to_golden(name: str, value: Any) -> None:
    path = GOLDEN / name
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    if os.environ.get("BAY_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with BAY_UPDATE_GOLDEN=1 to write it"
    assert json.loads(path.read_text()) == json.loads(text), (
        f"{name} differs from its golden copy: if the change is meant, rerun with "
        "BAY_UPDATE_GOLDEN=1 and review the diff"
    )


async def test_tools_list_is_the_published_one(bay: Bay) -> None:
    async def ready() -> Bay:
        return bay

    async with Client(create_mcp_server(ready, lambda ctx: "alice")) as client:
        tools = (await client.list_tools()).tools
    listed = {
        tool.name: tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools
    }
    held_to_golden("tools.json", listed)


async def test_openapi_document_is_the_published_one(bay: Bay) -> None:
    app = create_http_app(bay, loopback_bind=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as api:
        document = (await api.get("/openapi.json")).json()
    held_to_golden("openapi.json", document)
