"""The warm pool over the fakes: claims are exclusive and invisible, quotas ignore the
pool, what asks for another sandbox starts cold, and stale members are replaced.
(tests/integration/http/test_pool.py does the same with Docker and two processes.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from bay_mcp.adapters.ship_client import ShipEndpoint
from bay_mcp.bay import Bay
from bay_mcp.errors import ShipError
from bay_mcp.limits import POOL_OWNER
from bay_mcp.managers import no_progress
from bay_mcp.services.pool import POOL_LEASE
from bay_mcp.services.runs import PythonRun
from bay_mcp.settings import BaySettings, Profile
from bay_mcp.storage.database import Database
from bay_mcp.storage.leases import Leases
from bay_mcp.storage.models import Cargo
from ship.protocol import PoolWatch
from tests.databases import database_url
from tests.fakes import FakeDriver, FakeShip

SETTLE_S = 10.0


@pytest_asyncio.fixture
async def pooled(tmp_path: Path, driver: FakeDriver, ship: FakeShip) -> AsyncIterator[Bay]:
    settings = BaySettings(
        data_dir=tmp_path,
        instance_id="bay-unit",
        auto_build_image=False,
        max_sandboxes_total=3,
        pool_check_interval_seconds=3600,  # only claims and the tests wake it
        profiles=[
            Profile(id="python-default", warm_pool_size=2),
            Profile(id="cold", warm_pool_size=0),
        ],
    )
    async with database_url(tmp_path / "bay.db") as url:
        bay = Bay(settings, driver=driver, ship=ship, database=Database(url=url))
        await bay.start()
        try:
            await settled(bay)
            yield bay
        finally:
            await bay.close()


async def settled(bay: Bay) -> None:
    """Wait for the refill pass under way (or the next one) to finish."""
    bay.pool.refilled.clear()
    bay.sandboxes.pool_drained.set()
    await asyncio.wait_for(bay.pool.refilled.wait(), SETTLE_S)


async def pool_ids(bay: Bay) -> set[str]:
    return {sandbox.id for sandbox, _ in await bay.sandboxes.pool_members()}


async def test_the_pool_fills_and_a_create_claims_a_member(pooled: Bay, driver: FakeDriver) -> None:
    members = await pool_ids(pooled)
    assert len(members) == 2
    assert pooled.pool.state["python-default"].ready == 2
    started = driver.started
    sandbox = await pooled.sandboxes.create("alice", ttl_seconds=60)
    assert sandbox.id in members
    assert sandbox.status == "ready"
    assert sandbox.expires_at is not None
    # The claim's own read gives what a later read shows (its container aside).
    shown = await pooled.sandboxes.get("alice", sandbox.id)
    assert sandbox == shown.model_copy(update={"containers": None})
    assert driver.started == started  # no container was started for it
    result = await pooled.execution.run(
        "alice", sandbox.id, PythonRun(code="1+1", timeout=30), no_progress
    )
    assert result.success
    async with pooled.db.session() as db:
        cargo = await db.get(Cargo, sandbox.cargo_id)
    assert cargo is not None
    assert cargo.owner == "alice"
    # Only alice sees it; the pool is refilled behind the call.
    assert [s.id for s in (await pooled.sandboxes.list("alice")).items] == [sandbox.id]
    await settled(pooled)
    assert len(await pool_ids(pooled)) == 2
    assert sandbox.id not in await pool_ids(pooled)
    assert pooled.metrics.pool_claim_count("python-default", "hit") == 1
    report = pooled.pool.report()["python-default"]
    assert (report.target, report.ready, report.hits, report.misses) == (2, 2, 1, 0)


async def test_members_watch_for_their_bay_until_claimed(
    pooled: Bay, driver: FakeDriver, ship: FakeShip
) -> None:
    await pool_ids(pooled)
    # Every member's Ship stops itself unless a Bay checks or claims it.
    envs = [container.spec.env for container in driver.containers.values()]
    assert {env.get("SHIP_ORPHAN_AFTER_SECONDS") for env in envs} == {"900"}
    await pooled.pool.refill()
    checked = {url for url, claimed in ship.heartbeats if not claimed}
    assert len(checked) == 2  # each ready member heard from its Bay
    sandbox = await pooled.sandboxes.create("alice")
    await pooled.sandboxes.settle()  # told behind the create
    [(url, _)] = [beat for beat in ship.heartbeats if beat[1]]
    assert url in checked
    assert sandbox.id  # claimed: its watch was ended once


async def test_a_claim_does_not_wait_for_its_ship_to_hear_of_it(
    pooled: Bay, ship: FakeShip, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard = ship.pool_heartbeat
    arrived, answer = asyncio.Event(), asyncio.Event()

    async def slow_ship(endpoint: ShipEndpoint, *, claimed: bool) -> PoolWatch:
        arrived.set()
        await answer.wait()
        return await heard(endpoint, claimed=claimed)

    monkeypatch.setattr(ship, "pool_heartbeat", slow_ship)
    sandbox = await pooled.sandboxes.create("alice")
    assert sandbox.status == "ready"  # answered while its Ship has not heard yet
    await asyncio.wait_for(arrived.wait(), SETTLE_S)
    assert not [beat for beat in ship.heartbeats if beat[1]]
    answer.set()
    await pooled.sandboxes.settle()
    assert len([beat for beat in ship.heartbeats if beat[1]]) == 1


@pytest.mark.parametrize("failure", [ShipError("ship is gone"), RuntimeError("a bug")])
async def test_a_watch_that_cannot_be_ended_is_logged_not_raised(
    pooled: Bay,
    ship: FakeShip,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
) -> None:
    async def failing_ship(endpoint: ShipEndpoint, *, claimed: bool) -> PoolWatch:
        raise failure

    monkeypatch.setattr(ship, "pool_heartbeat", failing_ship)
    sandbox = await pooled.sandboxes.create("alice")
    await pooled.sandboxes.settle()
    assert f"sandbox {sandbox.id}: its pool watch could not be ended" in caplog.text
    assert (await pooled.sandboxes.get("alice", sandbox.id)).status == "ready"


async def test_bay_stopping_gives_up_on_a_ship_that_does_not_answer(
    pooled: Bay, ship: FakeShip, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def hung_ship(endpoint: ShipEndpoint, *, claimed: bool) -> PoolWatch:
        await asyncio.Event().wait()
        raise AssertionError("never answers")

    monkeypatch.setattr(ship, "pool_heartbeat", hung_ship)
    sandbox = await pooled.sandboxes.create("alice")
    await pooled.sandboxes.lifecycle.settle(timeout=0.01)
    assert f"end-orphan-watch-{sandbox.id}: no answer from Ship" in caplog.text


async def test_concurrent_creates_never_share_a_member(pooled: Bay) -> None:
    # Another process holds the refill's lease: the first claim wakes the refill, whose
    # new member a later claim could otherwise take (seen as 3 hits on a busy machine).
    assert await Leases(pooled.db, holder="another-bay").acquire(POOL_LEASE, timedelta(minutes=1))
    created = await asyncio.gather(*(pooled.sandboxes.create(f"o{i}") for i in range(3)))
    ids = [sandbox.id for sandbox in created]
    assert len(set(ids)) == 3
    hits = pooled.metrics.pool_claim_count("python-default", "hit")
    misses = pooled.metrics.pool_claim_count("python-default", "miss")
    assert (hits, misses) == (2, 1)


async def test_quotas_do_not_count_the_pool(pooled: Bay) -> None:
    # max_sandboxes_total is 3 while two pool members live.
    for owner in ("a", "b", "c"):
        await pooled.sandboxes.create(owner)
    counts = await pooled.sandboxes.count_by_status()
    assert sum(counts.values()) == 3


async def test_what_asks_for_another_sandbox_starts_cold(pooled: Bay) -> None:
    members = await pool_ids(pooled)
    cargo = await pooled.cargos.create("alice")
    attached = await pooled.sandboxes.create("alice", cargo_id=cargo.id)
    with_env = await pooled.sandboxes.create("alice", env={"TOKEN": "x"})
    no_pool = await pooled.sandboxes.create("alice", profile="cold")
    assert not {attached.id, with_env.id, no_pool.id} & members
    assert await pool_ids(pooled) == members
    assert pooled.metrics.pool_claim_count("python-default", "hit") == 0


async def test_stale_members_are_replaced(pooled: Bay, driver: FakeDriver) -> None:
    first = await pool_ids(pooled)
    driver.image_ids["ship:latest"] = "sha256:rebuilt"
    await pooled.pool.refill()  # the interval's check (a claim's pass does not look)
    rebuilt = await pool_ids(pooled)
    assert len(rebuilt) == 2
    assert not rebuilt & first
    # A member whose container vanished is replaced too.
    [member, _] = await pooled.sandboxes.pool_members()
    session = member[1]
    assert session is not None
    assert session.container_id is not None
    driver.kill(session.container_id)
    await pooled.pool.refill()
    assert member[0].id not in await pool_ids(pooled)
    assert len(await pool_ids(pooled)) == 2


async def test_a_claims_pass_reads_the_database_only(
    pooled: Bay, driver: FakeDriver, ship: FakeShip
) -> None:
    """What a claim wakes counts members and starts the missing one; asking Docker and
    each member's Ship waits for the interval's check."""
    before = await pool_ids(pooled)
    driver.image_ids["ship:latest"] = "sha256:rebuilt"
    beats = len(ship.heartbeats)
    sandbox = await pooled.sandboxes.create("alice")
    await pooled.sandboxes.settle()
    await settled(pooled)
    members = await pool_ids(pooled)
    assert len(members) == 2
    assert sandbox.id not in members
    # The member of the old image was not checked, so not found stale...
    [old] = before - {sandbox.id}
    assert old in members
    assert len(ship.heartbeats) == beats + 1  # the claimed one's watch ended, no check
    # ...until the interval's check replaces it.
    await pooled.pool.refill()
    assert old not in await pool_ids(pooled)
    assert len(await pool_ids(pooled)) == 2


async def test_pool_members_are_not_reaped_for_idleness(pooled: Bay) -> None:
    report = await pooled.reaper.run(["idle_sessions"])
    assert report.results[0].cleaned_count == 0
    assert all(s.owner == POOL_OWNER for s, _ in await pooled.sandboxes.pool_members())


async def test_a_bay_that_stops_takes_its_unclaimed_members_along(
    pooled: Bay, driver: FakeDriver
) -> None:
    claimed = await pooled.sandboxes.create("alice")
    await pooled.pool.stop()
    assert await pool_ids(pooled) == set()
    # Only the claimed sandbox's container is left: it is alice's now.
    assert [c.info.labels["bay.sandbox_id"] for c in driver.containers.values()] == [claimed.id]
