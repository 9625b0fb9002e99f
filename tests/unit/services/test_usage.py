"""What sandboxes use now: read from a driver that can tell, CPU from the second reading
on, a fresh reading shown again, running and paused sandboxes only."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from bay_mcp.bay import Bay
from bay_mcp.drivers.docker_stats import UsageSample
from bay_mcp.managers import no_progress
from bay_mcp.services.runs import PythonRun
from bay_mcp.services.usage import FORGET_S, FRESH_S, Usage, UsageService
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Session
from tests.fakes import FakeDriver

MB = 1024 * 1024


class UsageDriver(FakeDriver):
    """The fake engine, with readings queued per container (None: not running)."""

    def __init__(self) -> None:
        super().__init__()
        self.readings: dict[str, list[UsageSample | None]] = {}
        self.asked: list[str] = []

    async def usage(self, container_id: str) -> UsageSample | None:
        self.asked.append(container_id)
        return self.readings[container_id].pop(0)


def reading(cpu_ns: int, system_ns: int, *, age: float = 0.0, memory: int = 64 * MB) -> UsageSample:
    """A reading taken `age` seconds ago, on a 2-core host, with a 1 GB limit."""
    return UsageSample(
        taken_at=time.monotonic() - age,
        cpu_ns=cpu_ns,
        system_ns=system_ns,
        online_cpus=2,
        memory_bytes=memory,
        memory_limit_bytes=1024 * MB,
    )


@pytest.fixture
def driver() -> UsageDriver:
    return UsageDriver()


async def started(bay: Bay, owner: str = "alice") -> tuple[str, str]:
    """A sandbox whose session is ready: its id and its container's."""
    sandbox = await bay.sandboxes.create(owner)
    await bay.execution.run(owner, sandbox.id, PythonRun(code="1"), no_progress)
    [session] = await sessions(bay, sandbox.id)
    assert session.container_id is not None
    return sandbox.id, session.container_id


async def sessions(bay: Bay, sandbox_id: str) -> list[Session]:
    async with bay.db.session() as db:
        return list((await db.exec(select(Session).where(Session.sandbox_id == sandbox_id))).all())


async def set_state(bay: Bay, sandbox_id: str, state: str) -> None:
    async with bay.db.session() as db:
        for row in (await db.exec(select(Session).where(Session.sandbox_id == sandbox_id))).all():
            row.observed_state = state
            db.add(row)
        await db.commit()


async def test_cpu_shows_from_the_second_reading_on(bay: Bay, driver: UsageDriver) -> None:
    assert bay.usage.available
    sandbox_id, container = await started(bay)
    driver.readings[container] = [
        reading(1_000_000, 10_000_000, age=FRESH_S + 1),
        reading(2_000_000, 14_000_000, memory=80 * MB),
    ]
    first = await bay.usage.of([sandbox_id])
    assert first == {sandbox_id: Usage(None, 64 * MB, 1024 * MB)}
    second = await bay.usage.of([sandbox_id])
    # 1 ms of the container's CPU over 4 ms of the host's 2 cores: half a core.
    assert second == {sandbox_id: Usage(50.0, 80 * MB, 1024 * MB)}
    assert driver.asked == [container, container]


async def test_a_fresh_reading_is_shown_again_without_asking(bay: Bay, driver: UsageDriver) -> None:
    sandbox_id, container = await started(bay)
    driver.readings[container] = [reading(1_000_000, 10_000_000)]
    first = await bay.usage.of([sandbox_id])
    assert await bay.usage.of([sandbox_id]) == first
    assert driver.asked == [container]


async def test_a_reading_nobody_refreshed_is_forgotten(bay: Bay, driver: UsageDriver) -> None:
    sandbox_id, container = await started(bay)
    driver.readings[container] = [
        reading(1_000_000, 10_000_000, age=FORGET_S + 1),
        reading(2_000_000, 14_000_000),
    ]
    await bay.usage.of([sandbox_id])
    again = await bay.usage.of([sandbox_id])
    assert again[sandbox_id].cpu_percent is None  # no reading left to compare with


async def test_a_container_that_stopped_answering_is_left_out(
    bay: Bay, driver: UsageDriver
) -> None:
    gone, gone_container = await started(bay)
    running, running_container = await started(bay)
    driver.readings[gone_container] = [reading(1, 10, age=FRESH_S + 1), None, reading(5, 50)]
    driver.readings[running_container] = [reading(1, 10)]
    assert set(await bay.usage.of([gone, running])) == {gone, running}
    assert set(await bay.usage.of([gone, running])) == {running}
    # Its earlier reading went with it: back, it starts again without CPU.
    assert (await bay.usage.of([gone]))[gone].cpu_percent is None


async def test_only_running_and_paused_sandboxes_are_read(bay: Bay, driver: UsageDriver) -> None:
    paused, paused_container = await started(bay)
    await set_state(bay, paused, "paused")
    starting, _ = await started(bay)
    await set_state(bay, starting, "starting")
    never = await bay.sandboxes.create("alice")  # no session at all
    driver.readings[paused_container] = [reading(1, 10)]
    assert set(await bay.usage.of([paused, starting, never.id])) == {paused}
    assert driver.asked == [paused_container]
    assert await bay.usage.of([]) == {}


async def test_a_driver_that_cannot_tell_has_no_usage() -> None:
    database = Database(None)
    await database.migrate()
    try:
        service = UsageService(database, FakeDriver())
        assert not service.available
        assert await service.of(["sb-1"]) == {}
    finally:
        await database.close()
