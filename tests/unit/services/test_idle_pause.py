"""Pausing idle sandboxes, over the fake driver: what is paused, what thaws it, and the
paused memory's limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bay_mcp.bay import Bay
from bay_mcp.errors import Timeout
from bay_mcp.managers import no_progress
from bay_mcp.services.runs import PythonRun
from bay_mcp.storage.models import utcnow
from tests.fakes import FakeDriver, FakeShip
from tests.unit.services.test_reaper import age


async def _run(bay: Bay, sandbox_id: str) -> None:
    await bay.execution.run("alice", sandbox_id, PythonRun(code="1", timeout=30), no_progress)


def _state(driver: FakeDriver) -> list[str]:
    return sorted(container.info.state for container in driver.containers.values())


async def test_an_idle_sandbox_is_paused_and_its_next_call_thaws_it(
    bay: Bay, driver: FakeDriver
) -> None:
    idle = await bay.sandboxes.create("alice")
    busy = await bay.sandboxes.create("alice")
    fresh = await bay.sandboxes.create("alice")
    for sandbox in (idle, busy, fresh):
        await _run(bay, sandbox.id)
    for sandbox in (idle, busy):
        await age(bay, sandbox.id, last_active_at=utcnow() - timedelta(minutes=2))
    async with bay.session_manager.using(busy.id):  # a call is running on this one
        assert await bay.pauser.run() == 1
    assert (await bay.sandboxes.get("alice", idle.id)).status == "paused"
    assert (await bay.sandboxes.get("alice", busy.id)).status == "ready"
    assert (await bay.sandboxes.get("alice", fresh.id)).status == "ready"
    assert _state(driver) == ["paused", "running", "running"]
    await _run(bay, idle.id)  # thawed first, inside the call
    assert (await bay.sandboxes.get("alice", idle.id)).status == "ready"
    assert _state(driver) == ["running"] * 3
    assert driver.started == 3  # the same container: nothing started again


async def test_paused_memory_over_the_limit_stops_the_longest_paused(
    bay: Bay, driver: FakeDriver
) -> None:
    bay.settings.max_paused_memory_mb = 1024  # one default sandbox (1024 MB)
    first = await bay.sandboxes.create("alice")
    second = await bay.sandboxes.create("alice")
    await _run(bay, first.id)
    await _run(bay, second.id)
    await age(bay, first.id, last_active_at=utcnow() - timedelta(minutes=5))
    assert await bay.pauser.run() == 1
    await age(bay, second.id, last_active_at=utcnow() - timedelta(minutes=2))
    assert await bay.pauser.run() == 1
    stopped = await bay.sandboxes.get("alice", first.id)
    assert stopped.status == "idle"
    assert stopped.last_stop is not None
    assert "over BAY_MAX_PAUSED_MEMORY_MB=1024" in stopped.last_stop
    assert (await bay.sandboxes.get("alice", second.id)).status == "paused"
    assert _state(driver) == ["paused"]
    await _run(bay, first.id)  # a new session; its files were kept in its cargo
    running = await bay.sandboxes.get("alice", first.id)
    assert running.status == "ready"
    assert running.last_stop is None


async def test_a_paused_sandbox_is_stopped_when_its_idle_timeout_comes(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await _run(bay, sandbox.id)
    await age(bay, sandbox.id, last_active_at=utcnow() - timedelta(minutes=2))
    assert await bay.pauser.run() == 1
    await age(bay, sandbox.id, last_active_at=utcnow() - timedelta(hours=1))
    report = await bay.reaper.run(["idle_sessions"])
    assert report.results[0].cleaned_count == 1
    assert driver.containers == {}
    stopped = await bay.sandboxes.get("alice", sandbox.id)
    assert stopped.status == "idle"
    assert stopped.last_stop is not None
    assert "idle_timeout_seconds" in stopped.last_stop


async def test_a_session_that_stops_answering_is_marked_and_replaced(
    bay: Bay, driver: FakeDriver, ship: FakeShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await _run(bay, sandbox.id)
    ship.unresponsive = True
    with pytest.raises(Timeout, match="does not answer at all") as missed:
        await _run(bay, sandbox.id)
    assert "files kept and its memory lost" in missed.value.message
    assert (await bay.sandboxes.get("alice", sandbox.id)).status == "unhealthy"
    ship.unresponsive = False
    result = await bay.execution.run(
        "alice", sandbox.id, PythonRun(code="1", timeout=30), no_progress
    )
    assert result.notice is not None
    assert "its memory (variables, processes) is not" in result.notice
    assert (await bay.sandboxes.get("alice", sandbox.id)).status == "ready"
    assert driver.started == 2  # a new session; the old container removed
    assert len(driver.containers) == 1


async def test_a_slow_runtime_that_still_answers_keeps_its_session(
    bay: Bay, driver: FakeDriver, ship: FakeShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await _run(bay, sandbox.id)
    ship.python_answer = None

    async def slow(*args: object, **kwargs: object) -> object:
        raise Timeout("the runtime did not answer /python/exec within 35 s")

    original = ship.python_exec
    ship.python_exec = slow  # type: ignore[method-assign,assignment]
    try:
        with pytest.raises(Timeout) as missed:
            await _run(bay, sandbox.id)
    finally:
        ship.python_exec = original  # type: ignore[method-assign]
    assert "does not answer at all" not in missed.value.message  # /health answered
    assert (await bay.sandboxes.get("alice", sandbox.id)).status == "ready"
    assert driver.started == 1
