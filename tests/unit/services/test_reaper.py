"""The reaper's rules, over the fake driver: what it cleans and what it never touches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bay_mcp.bay import Bay
from bay_mcp.drivers import ContainerInfo, ContainerSpec
from bay_mcp.managers import no_progress
from bay_mcp.services.reaper import GcRunning
from bay_mcp.services.runs import PythonRun
from bay_mcp.storage.models import Sandbox, utcnow
from tests.fakes import FakeContainer, FakeDriver


async def age(bay: Bay, sandbox_id: str, **changes: object) -> None:
    await bay.activity.flush()  # the times still in memory first, or they would win
    async with bay.db.session() as db:
        row = await db.get(Sandbox, sandbox_id)
        assert row is not None
        for key, value in changes.items():
            setattr(row, key, value)
        db.add(row)
        await db.commit()


async def test_idle_sessions_stop_and_busy_ones_do_not(bay: Bay, driver: FakeDriver) -> None:
    idle = await bay.sandboxes.create("alice")
    busy = await bay.sandboxes.create("alice")
    for sandbox in (idle, busy):
        await bay.execution.run("alice", sandbox.id, PythonRun(code="1", timeout=30), no_progress)
        await age(bay, sandbox.id, last_active_at=utcnow() - timedelta(hours=1))
    async with bay.session_manager.using(busy.id):  # a call is running on this one
        report = await bay.reaper.run(["idle_sessions"])
    assert report.results[0].cleaned_count == 1
    assert (await bay.sandboxes.get("alice", idle.id)).status == "idle"
    assert (await bay.sandboxes.get("alice", busy.id)).status == "ready"
    assert len(driver.containers) == 1


async def test_expired_sandboxes_are_deleted_with_their_managed_cargo(
    bay: Bay, driver: FakeDriver
) -> None:
    external = await bay.cargos.create("alice")
    doomed = await bay.sandboxes.create("alice", ttl_seconds=60, cargo_id=external.id)
    managed = await bay.sandboxes.create("alice", ttl_seconds=60)
    kept = await bay.sandboxes.create("alice", ttl_seconds=3600)
    for sandbox in (doomed, managed):
        await age(bay, sandbox.id, expires_at=utcnow() - timedelta(seconds=1))
    report = await bay.reaper.run(["expired_sandboxes"])
    assert report.total_cleaned == 2
    assert [s.id for s in (await bay.sandboxes.list("alice")).items] == [kept.id]
    assert f"bay-cargo-{external.id}" in driver.volumes
    assert f"bay-cargo-{managed.cargo_id}" not in driver.volumes


async def test_orphans_need_our_labels(bay: Bay, driver: FakeDriver) -> None:
    def plant(container_id: str, instance: str) -> None:
        spec = ContainerSpec(
            name=container_id, image="ship:latest", volume="v", env={}, labels={},
            cpus=1, memory_mb=64, pids_limit=16,
        )  # fmt: skip
        labels = {"bay.instance_id": instance, "bay.managed": "true"}
        driver.containers[container_id] = FakeContainer(
            spec, ContainerInfo(id=container_id, name=container_id, state="exited", labels=labels)
        )
        driver.volumes[f"vol-{container_id}"] = labels

    plant("ours", bay.instance_id)
    plant("theirs", "bay-other")
    bay.settings.gc_orphan_grace_seconds = 0
    report = await bay.reaper.run(["orphan_containers", "orphan_cargos"])
    assert report.total_cleaned == 2
    assert list(driver.containers) == ["theirs"]
    assert list(driver.volumes) == ["vol-theirs"]


async def test_a_second_run_while_one_runs_is_refused(bay: Bay) -> None:
    async with bay.reaper._running:
        with pytest.raises(GcRunning):
            await bay.reaper.run()
