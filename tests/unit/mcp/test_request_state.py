"""The 2026-07-28 `requestState` is sealed under the installation's key: a state one Bay
minted is opened by another Bay on the same database (a replica behind a balancer
without stickiness), refused by a Bay on another database, and refused to another owner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, InputRequiredResult, TextContent

from bay_mcp.bay import Bay
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from bay_mcp.settings import BaySettings
from bay_mcp.storage.database import Database
from tests.databases import database_url
from tests.fakes import FakeDriver, FakeShip

STATE = "asked-about-sandbox-1"


async def two_rounds(ctx: Context) -> CallToolResult | InputRequiredResult:
    """A call that needs a second round (as a confirmation does): the first round answers
    with a state to echo; the retry says which state it was given."""
    if ctx.request_state is None:
        return InputRequiredResult(request_state=STATE)
    return CallToolResult(content=[TextContent(type="text", text=f"state {ctx.request_state}")])


def server_over(bay: Bay, owner: str) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    server = create_mcp_server(ready, lambda ctx: owner)
    server.add_tool(two_rounds)
    return server


@pytest_asyncio.fixture
async def replica(
    bay: Bay, settings: BaySettings, driver: FakeDriver, ship: FakeShip, tmp_path: Path
) -> AsyncIterator[Bay]:
    """A second Bay on the first one's database, with a data directory of its own."""
    data = tmp_path / "replica"
    data.mkdir()
    other = Bay(
        settings.model_copy(update={"data_dir": data}),
        driver=driver,
        ship=ship,
        database=Database(url=bay.db.url),
    )
    await other.start()
    try:
        yield other
    finally:
        await other.close()


async def first_round(server: BayMCPServer) -> str:
    async with Client(server, mode="2026-07-28") as client:
        asked = await client.session.call_tool("two_rounds", {}, allow_input_required=True)
    assert isinstance(asked, InputRequiredResult)
    assert asked.request_state is not None
    return asked.request_state


async def second_round(server: BayMCPServer, sealed: str) -> CallToolResult:
    async with Client(server, mode="2026-07-28") as client:
        result = await client.session.call_tool("two_rounds", {}, request_state=sealed)
    assert isinstance(result, CallToolResult)
    return result


async def refusal(server: BayMCPServer, sealed: str) -> str:
    """The error a retry with `sealed` gets (caught inside the client, which would
    otherwise raise it wrapped as it closes)."""
    async with Client(server, mode="2026-07-28") as client:
        try:
            await client.session.call_tool("two_rounds", {}, request_state=sealed)
        except MCPError as exc:
            return exc.error.message
    raise AssertionError("the state was accepted")


async def test_a_state_one_bay_sealed_is_opened_by_another_on_its_database(
    bay: Bay, replica: Bay
) -> None:
    assert bay.request_state_key is not None
    assert bay.request_state_key == replica.request_state_key
    sealed = await first_round(server_over(bay, "alice"))
    assert STATE not in sealed  # sealed, not merely signed: the client cannot read it
    answered = await second_round(server_over(replica, "alice"), sealed)
    assert [block.text for block in answered.content if isinstance(block, TextContent)] == [
        f"state {STATE}"
    ]


async def test_a_state_is_refused_by_a_bay_on_another_database(
    bay: Bay,
    settings: BaySettings,
    driver: FakeDriver,
    ship: FakeShip,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sealed = await first_round(server_over(bay, "alice"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    async with database_url(elsewhere / "bay.db") as url:
        other = Bay(
            settings.model_copy(update={"data_dir": elsewhere}),
            driver=driver,
            ship=ship,
            database=Database(url=url),
        )
        await other.start()
        try:
            refused = await refusal(server_over(other, "alice"), sealed)
            assert refused == "Invalid or expired requestState"
            assert "requestState rejected on tools/call: unknown key" in caplog.text
        finally:
            await other.close()


async def test_a_state_is_refused_to_another_owner(
    bay: Bay, replica: Bay, caplog: pytest.LogCaptureFixture
) -> None:
    sealed = await first_round(server_over(bay, "alice"))
    assert await refusal(server_over(replica, "bob"), sealed) == "Invalid or expired requestState"
    # Refused for the owner (the SDK logs the reason it never puts on the wire).
    assert "requestState rejected on tools/call: principal" in caplog.text


async def test_a_state_the_client_altered_is_refused(bay: Bay) -> None:
    sealed = await first_round(server_over(bay, "alice"))
    altered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    assert await refusal(server_over(bay, "alice"), altered) == "Invalid or expired requestState"


async def test_a_state_is_refused_while_bay_has_not_started(bay: Bay) -> None:
    sealed = await first_round(server_over(bay, "alice"))

    async def failed() -> Bay:
        raise RuntimeError("the database is unreachable")

    server = create_mcp_server(failed, lambda ctx: "alice")
    server.add_tool(two_rounds)
    # No key to open it with: refused, as a state from elsewhere is (never a crash).
    assert await refusal(server, sealed) == "Invalid or expired requestState"
