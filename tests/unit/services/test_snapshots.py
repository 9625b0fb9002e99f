"""Snapshot and fork rules over the fakes: volumes and labels, quotas, owners, the gate,
and what goes with a deleted sandbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bay_mcp.bay import Bay
from bay_mcp.errors import DriverError, NotFound, QuotaExceeded
from bay_mcp.limits import MB
from bay_mcp.managers import no_progress
from bay_mcp.services.runs import PythonRun
from bay_mcp.settings import BaySettings, Profile
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Sandbox, Snapshot, utcnow
from tests.databases import database_url
from tests.fakes import FakeDriver, FakeShip


def cargo_volume(bay_cargo_id: str) -> str:
    return f"bay-cargo-{bay_cargo_id}"


async def test_a_snapshot_is_a_labelled_volume_with_the_cargo_copied(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    driver.sizes[cargo_volume(sandbox.cargo_id)] = 3 * MB
    taken = await bay.snapshots.create("alice", sandbox.id, "before the upgrade")
    assert taken.id.startswith("snap-")
    assert (taken.size_bytes, taken.name, taken.kernel_state_saved) == (
        3 * MB,
        "before the upgrade",
        False,
    )
    assert "kernel's memory" in taken.message
    volume = f"bay-snapshot-{taken.id}"
    assert driver.copies == [(cargo_volume(sandbox.cargo_id), volume, False)]
    assert driver.volumes[volume] == {
        "bay.instance_id": "bay-unit",
        "bay.owner": "alice",
        "bay.sandbox_id": sandbox.id,
        "bay.snapshot_id": taken.id,
        "bay.managed": "true",
    }
    listed = await bay.snapshots.list("alice", sandbox.id)
    assert [s.id for s in listed.snapshots] == [taken.id]


async def test_restore_copies_back_replacing_and_stops_the_session(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await bay.execution.run("alice", sandbox.id, PythonRun(code="x = 1", timeout=30), no_progress)
    taken = await bay.snapshots.create("alice", sandbox.id)
    assert len(driver.containers) == 1
    restored = await bay.snapshots.restore("alice", sandbox.id, taken.id)
    assert restored.kernel_restarted
    assert driver.copies[-1] == (f"bay-snapshot-{taken.id}", cargo_volume(sandbox.cargo_id), True)
    assert driver.containers == {}  # the next call starts a fresh kernel
    assert (await bay.sandboxes.get("alice", sandbox.id)).status == "idle"


async def test_a_fork_is_a_new_sandbox_with_its_own_cargo(bay: Bay, driver: FakeDriver) -> None:
    source = await bay.sandboxes.create("alice", env={"TOKEN": "t"})
    taken = await bay.snapshots.create("alice", source.id)
    now = await bay.snapshots.fork("alice", source.id)
    from_snapshot = await bay.snapshots.fork("alice", source.id, taken.id)
    for fork in (now, from_snapshot):
        assert fork.id != source.id
        assert fork.cargo_id != source.cargo_id
        assert (fork.profile, fork.env, fork.forked_from) == (
            "python-default",
            ["TOKEN"],
            source.id,
        )
    assert driver.copies[-2:] == [
        (cargo_volume(source.cargo_id), cargo_volume(now.cargo_id), False),
        (f"bay-snapshot-{taken.id}", cargo_volume(from_snapshot.cargo_id), False),
    ]
    assert from_snapshot.snapshot_id == taken.id
    # The fork holds nothing of its source: deleting the source leaves it whole.
    await bay.sandboxes.delete("alice", source.id)
    assert cargo_volume(now.cargo_id) in driver.volumes
    assert (await bay.snapshots.list("alice", from_snapshot.id)).snapshots == []


async def test_deleting_a_sandbox_deletes_its_snapshots(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice")
    first = await bay.snapshots.create("alice", sandbox.id)
    await bay.snapshots.create("alice", sandbox.id)
    await bay.snapshots.delete("alice", sandbox.id, first.id)
    assert len((await bay.snapshots.list("alice", sandbox.id)).snapshots) == 1
    await bay.sandboxes.delete("alice", sandbox.id)
    assert not [v for v in driver.volumes if v.startswith("bay-snapshot-")]


async def test_another_owner_sees_nothing(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    taken = await bay.snapshots.create("alice", sandbox.id)
    with pytest.raises(NotFound):
        await bay.snapshots.list("bob", sandbox.id)
    with pytest.raises(NotFound):
        await bay.snapshots.create("bob", sandbox.id)
    with pytest.raises(NotFound):
        await bay.snapshots.restore("bob", sandbox.id, taken.id)
    with pytest.raises(NotFound):
        await bay.snapshots.fork("bob", sandbox.id)
    # A snapshot is only found through its own sandbox.
    other = await bay.sandboxes.create("alice")
    with pytest.raises(NotFound, match="list_snapshots"):
        await bay.snapshots.restore("alice", other.id, taken.id)
    await bay.snapshots.delete("alice", sandbox.id, taken.id)
    with pytest.raises(NotFound):
        await bay.snapshots.delete("alice", sandbox.id, taken.id)


@pytest.fixture
def small_quota(tmp_path: Path) -> BaySettings:
    return BaySettings(
        data_dir=tmp_path,
        instance_id="bay-unit",
        auto_build_image=False,
        profiles=[Profile(id="python-default", warm_pool_size=0)],
        max_snapshots_per_owner=2,
        max_snapshot_mb_per_owner=10,
    )


async def test_quota_refusals_name_the_limit_and_what_to_delete(
    small_quota: BaySettings, driver: FakeDriver, ship: FakeShip, tmp_path: Path
) -> None:
    async with database_url(tmp_path / "q.db") as url:
        await _quota_refusals(
            Bay(small_quota, driver=driver, ship=ship, database=Database(url=url)), driver
        )


async def _quota_refusals(bay: Bay, driver: FakeDriver) -> None:
    await bay.start()
    try:
        sandbox = await bay.sandboxes.create("alice")
        driver.sizes[cargo_volume(sandbox.cargo_id)] = 6 * MB
        first = await bay.snapshots.create("alice", sandbox.id)
        with pytest.raises(QuotaExceeded) as too_big:
            await bay.snapshots.create("alice", sandbox.id)
        assert "BAY_MAX_SNAPSHOT_MB_PER_OWNER" in too_big.value.message
        assert first.id in too_big.value.message
        assert too_big.value.details["scope"] == "snapshot_mb"
        # Plain JSON on either database (PostgreSQL's SUM answers a Decimal).
        assert json.loads(json.dumps(too_big.value.details))["used_bytes"] == 6 * MB
        # The refused copy left no volume behind.
        assert len([v for v in driver.volumes if v.startswith("bay-snapshot-")]) == 1

        driver.sizes[cargo_volume(sandbox.cargo_id)] = 1 * MB
        await bay.snapshots.create("alice", sandbox.id)
        with pytest.raises(QuotaExceeded) as too_many:
            await bay.snapshots.create("alice", sandbox.id)
        assert "BAY_MAX_SNAPSHOTS_PER_OWNER=2" in too_many.value.message
        assert "delete_snapshot" in too_many.value.message
        assert too_many.value.details["snapshots"][0]["snapshot_id"] == first.id
        # Another owner has a quota of their own.
        theirs = await bay.sandboxes.create("bob")
        await bay.snapshots.create("bob", theirs.id)
    finally:
        await bay.close()


async def test_a_failed_copy_leaves_no_snapshot_and_a_failed_fork_no_sandbox(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    driver.fail_next_copy = True
    with pytest.raises(DriverError, match="disk full"):
        await bay.snapshots.create("alice", sandbox.id)
    assert (await bay.snapshots.list("alice", sandbox.id)).snapshots == []
    assert not [v for v in driver.volumes if v.startswith("bay-snapshot-")]
    driver.fail_next_copy = True
    with pytest.raises(DriverError):
        await bay.snapshots.fork("alice", sandbox.id)
    assert [s.id for s in (await bay.sandboxes.list("alice")).items] == [sandbox.id]


async def test_a_snapshot_waits_for_a_call_in_flight(
    bay: Bay, driver: FakeDriver, ship: FakeShip
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    ship.block_python = asyncio.Event()
    running = asyncio.create_task(
        bay.execution.run("alice", sandbox.id, PythonRun(code="work()", timeout=30), no_progress)
    )
    await ship.python_started.wait()
    snapshot = asyncio.create_task(bay.snapshots.create("alice", sandbox.id))
    await asyncio.sleep(0.05)
    assert not snapshot.done()
    assert driver.copies == []
    ship.block_python.set()
    await running
    await snapshot
    assert len(driver.copies) == 1


async def test_the_reaper_keeps_live_snapshots_and_removes_orphaned_ones(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    taken = await bay.snapshots.create("alice", sandbox.id)
    stray = "bay-snapshot-snap-000000000000"
    driver.volumes[stray] = {"bay.instance_id": "bay-unit", "bay.managed": "true"}
    await bay.reaper.run(["orphan_cargos"])
    assert f"bay-snapshot-{taken.id}" in driver.volumes
    assert cargo_volume(sandbox.cargo_id) in driver.volumes
    assert stray not in driver.volumes


async def test_the_reaper_removes_the_snapshots_a_deleted_sandbox_left(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    taken = await bay.snapshots.create("alice", sandbox.id)
    async with bay.db.session() as db:  # deleted by a Bay killed half-way through
        row = await db.get(Sandbox, sandbox.id)
        assert row is not None
        row.deleted_at = utcnow()
        db.add(row)
        await db.commit()
    report = await bay.reaper.run(["orphan_cargos"])
    assert f"bay-snapshot-{taken.id}" not in driver.volumes
    assert report.total_errors == 0
    async with bay.db.session() as db:
        assert await db.get(Snapshot, taken.id) is None
