"""Bay processes sharing one database (replicas), as two Bays over the fakes: leases,
one start per sandbox across them, one reaper at a time, abandoned starts. The same
tests run on SQLite and on PostgreSQL (BAY_TEST_DATABASE_URL; see tests/databases.py).
The real thing, two `bay-mcp serve` processes on one engine, is
tests/integration/http/test_replicas.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from bay_mcp.bay import Bay
from bay_mcp.services.reaper import REAPER_LEASE, GcRunning
from bay_mcp.services.runs import ShellRun
from bay_mcp.settings import BaySettings
from bay_mcp.storage.database import Database
from bay_mcp.storage.leases import Leases, process_lease
from bay_mcp.storage.models import Sandbox, Session, utcnow
from tests.databases import database_url
from tests.fakes import FakeDriver, FakeShip


@pytest_asyncio.fixture
async def shared_url(tmp_path: Path) -> AsyncIterator[str]:
    async with database_url(tmp_path / "shared.db") as url:
        yield url


@pytest_asyncio.fixture
async def replicas(
    settings: BaySettings, driver: FakeDriver, ship: FakeShip, shared_url: str
) -> AsyncIterator[tuple[Bay, Bay]]:
    """Two Bays on one database and one engine, as two replicas would be."""
    first = Bay(settings, driver=driver, ship=ship, database=Database(url=shared_url))
    second = Bay(settings, driver=driver, ship=ship, database=Database(url=shared_url))
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


async def test_a_lease_is_exclusive_renewable_and_freed(shared_url: str) -> None:
    database = Database(url=shared_url)
    await database.migrate()
    mine, theirs = Leases(database, "me"), Leases(database, "them")
    try:
        assert await mine.acquire("job", timedelta(minutes=1))
        assert not await theirs.acquire("job", timedelta(minutes=1))
        assert await mine.acquire("job", timedelta(minutes=1))  # a renewal
        assert await theirs.holder_of("job") == "me"
        await theirs.release("job")  # not theirs to release
        assert await mine.holder_of("job") == "me"
        await mine.release("job")
        assert await theirs.acquire("job", timedelta(minutes=1))
        # An expired lease (its holder died) is free for the taking.
        assert await mine.acquire("other", timedelta(seconds=-1))
        assert await theirs.holder_of("other") is None
        assert await theirs.acquire("other", timedelta(minutes=1))
    finally:
        await database.close()


async def test_concurrent_creates_of_two_leases_never_both_win(shared_url: str) -> None:
    database = Database(url=shared_url)
    await database.migrate()
    try:
        contenders = [Leases(database, f"p{n}") for n in range(10)]
        won = await asyncio.gather(*(c.acquire("race", timedelta(minutes=1)) for c in contenders))
        assert sum(won) == 1
    finally:
        await database.close()


async def test_a_process_lease_says_who_lives(replicas: tuple[Bay, Bay]) -> None:
    first, second = replicas
    assert await first.leases.alive(second.leases.holder)
    holder = second.leases.holder
    await second.leases.stop()
    assert not await first.leases.alive(holder)
    assert await first.leases.holder_of(process_lease(first.leases.holder)) is not None


async def test_a_sandbox_made_on_one_replica_runs_on_the_other(
    replicas: tuple[Bay, Bay], driver: FakeDriver
) -> None:
    first, second = replicas
    sandbox = await first.sandboxes.create("alice")
    listed = await second.sandboxes.list("alice")
    assert [view.id for view in listed.items] == [sandbox.id]
    await second.execution.run(
        "alice", sandbox.id, ShellRun(command="echo hi", timeout=10), _no_progress
    )
    await first.execution.run(
        "alice", sandbox.id, ShellRun(command="echo again", timeout=10), _no_progress
    )
    assert driver.started == 1  # the second replica used the first's session


async def test_concurrent_first_calls_over_both_replicas_start_one_container(
    replicas: tuple[Bay, Bay], driver: FakeDriver
) -> None:
    first, second = replicas
    sandbox = await first.sandboxes.create("alice")
    calls = [
        (first if n % 2 else second).execution.run(
            "alice", sandbox.id, ShellRun(command=f"echo {n}", timeout=10), _no_progress
        )
        for n in range(20)
    ]
    results = await asyncio.gather(*calls)
    assert all(result.exit_code == 0 for result in results)
    assert driver.started == 1


async def test_one_reaper_runs_at_a_time(replicas: tuple[Bay, Bay]) -> None:
    first, second = replicas
    assert await first.leases.acquire(REAPER_LEASE, timedelta(minutes=1))
    with pytest.raises(GcRunning) as refused:
        await second.reaper.run()
    assert "another Bay process" in refused.value.message
    await first.leases.release(REAPER_LEASE)
    report = await second.reaper.run()
    assert report.total_errors == 0


async def test_a_start_claimed_by_a_dead_process_is_replaced_a_live_ones_awaited(
    replicas: tuple[Bay, Bay], driver: FakeDriver
) -> None:
    first, second = replicas
    sandbox = await first.sandboxes.create("alice")

    # A start claimed by a process that is gone (its lease is not current): replaced.
    await _claim_start(first, sandbox.id, "bay-process-dead")
    result = await first.execution.run(
        "alice", sandbox.id, ShellRun(command="echo hi", timeout=10), _no_progress
    )
    assert (result.exit_code, driver.started) == (0, 1)
    await first.sandboxes.stop("alice", sandbox.id)

    # One claimed by the other replica, alive: the call waits for it, saying so.
    await _claim_start(first, sandbox.id, second.leases.holder)
    waiting = asyncio.Event()

    async def progress(message: str) -> None:
        if "being started by another Bay process" in message:
            waiting.set()

    call = asyncio.create_task(
        first.execution.run("alice", sandbox.id, ShellRun(command="echo hi", timeout=10), progress)
    )
    await asyncio.wait_for(waiting.wait(), timeout=10)
    assert not call.done()
    assert driver.started == 1
    # That start fails (its session goes): the waiting call starts one itself.
    await second.session_manager.stop(sandbox.id)
    result = await asyncio.wait_for(call, timeout=10)
    assert (result.exit_code, driver.started) == (0, 2)


async def _claim_start(bay: Bay, sandbox_id: str, starter: str) -> None:
    async with bay.db.session() as db:
        db.add(Session(sandbox_id=sandbox_id, ship_token="t", starter=starter))
        await db.commit()


async def _no_progress(message: str) -> None:
    return None


async def test_a_long_call_on_one_replica_keeps_its_sandbox_busy_for_the_other(
    replicas: tuple[Bay, Bay],
) -> None:
    first, second = replicas
    sandbox = await first.sandboxes.create("alice")
    await first.execution.run(
        "alice", sandbox.id, ShellRun(command="echo hi", timeout=10), _no_progress
    )
    await first.activity.flush()
    async with first.db.session() as db:
        row = await db.get(Sandbox, sandbox.id)
        assert row is not None
        row.last_active_at = utcnow() - timedelta(hours=1)  # looks idle for an hour
        db.add(row)
        await db.commit()
    # A call is running on the first replica: its next activity write says so, and the
    # second replica's reaper leaves the session alone.
    async with first.session_manager.using(sandbox.id):
        await first.activity.flush()
        stopped = await second.session_manager.stop_if_idle(
            sandbox.id, idle_before=utcnow() - timedelta(minutes=10)
        )
    assert not stopped
