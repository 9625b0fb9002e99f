"""The REST tests' client: Bay's HTTP app in-process, as a loopback caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from bay_mcp.bay import Bay
from bay_mcp.web.app import create_http_app


@pytest_asyncio.fixture
async def api(bay: Bay) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(bay, loopback_bind=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client
