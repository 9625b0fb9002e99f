"""Browser learning over Bay's fakes: a run keeps its trace when asked, `learn` tags
its history entry, and a released browser skill's commands replay in a sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bay_mcp.bay import Bay
from bay_mcp.errors import NotFound, ValidationFailed
from bay_mcp.managers import no_progress
from bay_mcp.settings import BaySettings
from tests.fake_browser import BrowsingShip, browser_settings
from tests.fakes import FakeDriver, FakeShip


@pytest.fixture
def settings(tmp_path: Path) -> BaySettings:
    return browser_settings(tmp_path)


@pytest.fixture
def ship(driver: FakeDriver) -> FakeShip:
    return BrowsingShip(driver)


COMMANDS = ["open http://site/", "fill #name Ada", "click #go", "get text #out"]


async def _learned(bay: Bay, owner: str = "alice") -> tuple[str, Any]:
    sandbox = await bay.sandboxes.create(owner)
    result = await bay.browser_learning.run(
        owner, sandbox.id, COMMANDS, 30, no_progress, learn=True
    )
    return sandbox.id, result


async def test_a_run_keeps_no_trace_unless_asked(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    result = await bay.browser_learning.run("alice", sandbox.id, COMMANDS, 30, no_progress)
    assert result.success
    assert result.trace_ref is None


async def test_include_trace_keeps_each_command_with_its_outcome_in_order(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    commands = ["open http://site/", "click #missing", "get title"]
    result = await bay.browser_learning.run(
        "alice", sandbox.id, commands, 30, no_progress, include_trace=True
    )
    assert result.trace_ref is not None
    assert result.trace_ref.startswith("trace:")
    trace = await bay.browser_learning.trace("alice", sandbox.id, result.trace_ref)
    assert trace["execution_id"] == result.execution_id
    assert trace["commands"] == commands
    assert [(step["cmd"], step["success"]) for step in trace["steps"]] == [
        ("open http://site/", True),
        ("click #missing", False),
    ]
    assert trace["steps"][1]["error"] == "no such element"
    assert trace["learn"] is False
    entry = await bay.history.get("alice", sandbox.id, result.execution_id)
    assert "learn" not in (entry.tags or "")


async def test_learn_tags_the_history_entry_and_keeps_a_trace(bay: Bay) -> None:
    sandbox_id, result = await _learned(bay)
    entry = await bay.history.get("alice", sandbox_id, result.execution_id)
    assert "learn" in entry.tags.split(",")
    trace = await bay.browser_learning.trace("alice", sandbox_id, result.trace_ref)
    assert trace["learn"] is True
    assert trace["url"] == "http://site/done"


async def test_a_trace_is_not_found_for_another_owner_sandbox_or_a_bad_ref(bay: Bay) -> None:
    sandbox_id, result = await _learned(bay)
    other = await bay.sandboxes.create("alice")
    payload = await bay.skills.create_payload("alice", {"commands": ["back"]})
    for owner, sandbox, ref in [
        ("bob", sandbox_id, result.trace_ref),
        ("alice", other.id, result.trace_ref),
        ("alice", sandbox_id, "trace:nope"),
        ("alice", sandbox_id, result.trace_ref.replace("trace:", "blob:")),
        ("alice", sandbox_id, payload.payload_ref.replace("blob:", "trace:")),
    ]:
        with pytest.raises(NotFound):
            await bay.browser_learning.trace(owner, sandbox, ref)


async def _release(bay: Bay, execution_id: str, payload: Any, key: str = "greet") -> None:
    ref = (await bay.skills.create_payload("alice", payload)).payload_ref
    candidate = await bay.skills.create_candidate("alice", key, [execution_id], payload_ref=ref)
    await bay.skills.evaluate_candidate("alice", candidate.id, passed=True)
    await bay.skills.promote_candidate("alice", candidate.id, stage="stable")


async def test_a_released_skill_replays_its_commands_in_another_sandbox(
    bay: Bay, ship: BrowsingShip
) -> None:
    _, learned = await _learned(bay)
    await _release(bay, learned.execution_id, {"commands": COMMANDS})
    fresh = await bay.sandboxes.create("alice")
    commands, replayed = await bay.browser_learning.run_skill(
        "alice", fresh.id, "greet", 30, no_progress
    )
    assert commands == COMMANDS
    assert replayed.success
    assert replayed.title == "Done"
    assert ship.browsed[-1] == ship.browsed[0]
    entry = await bay.history.get("alice", fresh.id, replayed.execution_id)
    assert entry.tags == "skill:greet"


async def test_a_trace_is_a_skill_payload_as_it_is(bay: Bay) -> None:
    sandbox_id, learned = await _learned(bay)
    trace = await bay.browser_learning.trace("alice", sandbox_id, learned.trace_ref)
    await _release(bay, learned.execution_id, trace)
    commands, _ = await bay.browser_learning.run_skill(
        "alice", sandbox_id, "greet", 30, no_progress
    )
    assert commands == COMMANDS


async def test_replaying_without_an_active_release_is_not_found(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    with pytest.raises(NotFound, match="No active release found"):
        await bay.browser_learning.run_skill("alice", sandbox.id, "nothing", 30, no_progress)
    _, learned = await _learned(bay)
    await _release(bay, learned.execution_id, {"commands": COMMANDS})
    with pytest.raises(NotFound, match="No active release found"):  # another owner's
        await bay.browser_learning.run_skill("bob", sandbox.id, "greet", 30, no_progress)


@pytest.mark.parametrize(
    "payload",
    [{"steps": []}, {"commands": []}, {"commands": [1]}, {"commands": ["  "]}, ["open x"]],
)
async def test_a_payload_without_commands_is_a_validation_error(bay: Bay, payload: Any) -> None:
    sandbox_id, learned = await _learned(bay)
    await _release(bay, learned.execution_id, payload)
    with pytest.raises(ValidationFailed, match="holds no browser commands"):
        await bay.browser_learning.run_skill("alice", sandbox_id, "greet", 30, no_progress)


async def test_a_release_without_a_payload_is_a_validation_error(bay: Bay) -> None:
    sandbox_id, learned = await _learned(bay)
    candidate = await bay.skills.create_candidate("alice", "greet", [learned.execution_id])
    await bay.skills.evaluate_candidate("alice", candidate.id, passed=True)
    await bay.skills.promote_candidate("alice", candidate.id, stage="stable")
    with pytest.raises(ValidationFailed, match="no payload_ref"):
        await bay.browser_learning.run_skill("alice", sandbox_id, "greet", 30, no_progress)


async def test_commands_too_long_for_a_trace_are_refused_before_they_run(
    bay: Bay, ship: BrowsingShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    long = "eval " + "1+" * 60_000 + "1"
    with pytest.raises(ValidationFailed, match="too long to keep in a trace"):
        await bay.browser_learning.run(
            "alice", sandbox.id, [long] * 10, 30, no_progress, include_trace=True
        )
    assert ship.browsed == []
