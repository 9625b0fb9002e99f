"""run_browser_skill in memory over the fakes: a released browser skill replays; none
released is a tool error that says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from mcp_types import TextContent

from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from bay_mcp.settings import BaySettings
from tests.fake_browser import BrowsingShip, browser_settings
from tests.fakes import FakeDriver, FakeShip

COMMANDS = ["open http://site/", "get title"]


@pytest.fixture
def settings(tmp_path: Path) -> BaySettings:
    return browser_settings(tmp_path)


@pytest.fixture
def ship(driver: FakeDriver) -> FakeShip:
    return BrowsingShip(driver)


@pytest.fixture
def server(bay: Bay) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, lambda ctx: "alice")


async def test_run_browser_skill_replays_the_release_or_says_there_is_none(
    bay: Bay, server: BayMCPServer
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    async with Client(server) as client:
        none = await client.call_tool(
            "run_browser_skill", {"sandbox_id": sandbox.id, "skill_key": "look"}
        )
        assert none.is_error
        text = "".join(block.text for block in none.content if isinstance(block, TextContent))
        assert "No active release found" in text

        ran = await bay.browser_learning.run("alice", sandbox.id, COMMANDS, 30, no_progress)
        ref = (await bay.skills.create_payload("alice", {"commands": COMMANDS})).payload_ref
        candidate = await bay.skills.create_candidate(
            "alice", "look", [ran.execution_id], payload_ref=ref
        )
        await bay.skills.evaluate_candidate("alice", candidate.id, passed=True)
        await bay.skills.promote_candidate("alice", candidate.id, stage="stable")
        replayed = await client.call_tool(
            "run_browser_skill", {"sandbox_id": sandbox.id, "skill_key": "look"}
        )
    assert not replayed.is_error
    assert replayed.structured_content is not None
    assert replayed.structured_content["success"] is True
    assert replayed.structured_content["title"] == "Done"
