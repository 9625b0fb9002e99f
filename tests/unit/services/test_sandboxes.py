"""Sandbox lifecycle rules: lazy start, one start under concurrency, stop, delete, owners."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bay_mcp.bay import Bay
from bay_mcp.drivers import DriverError
from bay_mcp.errors import (
    CapabilityNotSupported,
    NotFound,
    QuotaExceeded,
    SandboxExpired,
    SandboxTtlInfinite,
    ShipError,
    ValidationFailed,
)
from bay_mcp.managers import no_progress
from bay_mcp.services.runs import PythonRun, ShellRun
from bay_mcp.storage.models import Sandbox, utcnow
from ship import protocol
from tests.fakes import FakeDriver, FakeShip


async def run(bay: Bay, sandbox_id: str, owner: str = "alice") -> str:
    result = await bay.execution.run(
        owner, sandbox_id, PythonRun(code="1", timeout=30), no_progress
    )
    return result.output


async def test_create_makes_a_volume_and_no_container(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice")
    assert sandbox.status == "idle"
    assert sandbox.id.startswith("sandbox-")
    assert sandbox.cargo_id.startswith("ws-")
    assert list(driver.volumes) == [f"bay-cargo-{sandbox.cargo_id}"]
    labels = driver.volumes[f"bay-cargo-{sandbox.cargo_id}"]
    assert labels["bay.owner"] == "alice"
    assert labels["bay.instance_id"] == "bay-unit"
    assert driver.containers == {}


async def test_unknown_profile_and_bad_ttl_are_refused(bay: Bay, driver: FakeDriver) -> None:
    with pytest.raises(ValidationFailed, match="python-default"):
        await bay.sandboxes.create("alice", profile="gpu-huge")
    with pytest.raises(ValidationFailed, match="ttl_seconds"):
        await bay.sandboxes.create("alice", ttl_seconds=-5)
    assert driver.volumes == {}


async def test_first_call_starts_one_labelled_container(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await run(bay, sandbox.id)
    [container] = driver.containers.values()
    labels = container.spec.labels
    assert labels["bay.sandbox_id"] == sandbox.id
    assert labels["bay.cargo_id"] == sandbox.cargo_id
    assert labels["bay.profile_id"] == "python-default"
    assert labels["bay.owner"] == "alice"
    assert labels["bay.managed"] == "true"
    assert labels["bay.session_id"].startswith("sess-")
    assert container.spec.volume == f"bay-cargo-{sandbox.cargo_id}"
    assert len(container.spec.env["SHIP_TOKEN"]) >= 16
    assert (await bay.sandboxes.get("alice", sandbox.id)).status == "ready"


async def test_ten_concurrent_calls_start_exactly_one_container(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await asyncio.gather(*(run(bay, sandbox.id) for _ in range(10)))
    assert driver.started == 1


async def test_a_vanished_container_is_replaced(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await run(bay, sandbox.id)
    [first] = driver.containers
    driver.kill(first)
    await run(bay, sandbox.id)
    [second] = driver.containers
    assert second != first
    assert driver.started == 2


@pytest.mark.parametrize(
    "meta_change",
    [
        {"workspace": protocol.WorkspaceInfo(mount_path="/data")},
        {"api_version": "1"},
        {"capabilities": {"python": protocol.CapabilityInfo()}},
    ],
)
async def test_a_failed_handshake_removes_the_container_and_says_why(
    bay: Bay, driver: FakeDriver, ship: FakeShip, meta_change: dict[str, object]
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    good = ship.meta_answer
    ship.meta_answer = good.model_copy(update=meta_change)
    with pytest.raises(ShipError, match="does not match profile"):
        await run(bay, sandbox.id)
    assert driver.containers == {}
    assert (await bay.sandboxes.get("alice", sandbox.id)).status == "failed"
    ship.meta_answer = good
    await run(bay, sandbox.id)
    assert (await bay.sandboxes.get("alice", sandbox.id)).status == "ready"
    assert len(driver.containers) == 1


async def test_a_driver_failure_is_a_clear_error_and_leaves_nothing(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    driver.fail_next_run = DriverError("no space left on device")
    with pytest.raises(DriverError, match="no space left") as failed:
        await run(bay, sandbox.id)
    assert (failed.value.code, failed.value.status) == ("driver_error", 503)
    assert not isinstance(failed.value, ShipError)
    assert driver.containers == {}
    await run(bay, sandbox.id)
    assert len(driver.containers) == 1


async def test_stop_keeps_the_volume_and_is_idempotent(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await run(bay, sandbox.id)
    await bay.sandboxes.stop("alice", sandbox.id)
    await bay.sandboxes.stop("alice", sandbox.id)
    assert driver.containers == {}
    assert f"bay-cargo-{sandbox.cargo_id}" in driver.volumes
    assert (await bay.sandboxes.get("alice", sandbox.id)).status == "idle"


async def test_delete_removes_everything_and_leaves_a_tombstone(
    bay: Bay, driver: FakeDriver
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await run(bay, sandbox.id)
    await bay.sandboxes.delete("alice", sandbox.id)
    assert driver.containers == {}
    assert driver.volumes == {}
    for attempt in (
        bay.sandboxes.delete("alice", sandbox.id),
        bay.sandboxes.get("alice", sandbox.id),
        run(bay, sandbox.id),
    ):
        with pytest.raises(NotFound, match=f"{sandbox.id} was deleted"):
            await attempt
    assert (await bay.sandboxes.list("alice")).items == []
    async with bay.db.session() as db:
        row = await db.get(Sandbox, sandbox.id)
    assert row is not None
    assert row.deleted_at is not None


async def test_another_owners_sandbox_does_not_exist(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice")
    for attempt in (
        bay.sandboxes.get("mallory", sandbox.id),
        bay.sandboxes.stop("mallory", sandbox.id),
        bay.sandboxes.delete("mallory", sandbox.id),
        run(bay, sandbox.id, owner="mallory"),
    ):
        with pytest.raises(NotFound, match="not found"):
            await attempt
    assert (await bay.sandboxes.list("mallory")).items == []
    assert driver.containers == {}


async def test_a_missing_capability_starts_nothing(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice", profile="python-only")
    with pytest.raises(CapabilityNotSupported) as refused:
        await bay.execution.run(
            "alice", sandbox.id, ShellRun(command="id", timeout=30), no_progress
        )
    assert refused.value.details == {"capability": "shell", "available": ["python"]}
    assert driver.containers == {}


async def test_ttls(bay: Bay) -> None:
    forever = await bay.sandboxes.create("alice")
    assert forever.expires_at is None
    with pytest.raises(SandboxTtlInfinite):
        await bay.sandboxes.extend_ttl("alice", forever.id, 60)

    timed = await bay.sandboxes.create("alice", ttl_seconds=100)
    assert timed.expires_at is not None
    extended = await bay.sandboxes.extend_ttl("alice", timed.id, 50)
    assert extended.expires_at == timed.expires_at + timedelta(seconds=50)

    async with bay.db.session() as db:
        row = await db.get(Sandbox, timed.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        await db.commit()
    assert (await bay.sandboxes.get("alice", timed.id)).status == "expired"
    with pytest.raises(SandboxExpired):
        await bay.sandboxes.extend_ttl("alice", timed.id, 50)
    with pytest.raises(SandboxExpired):
        await run(bay, timed.id)


async def test_sandbox_quotas_per_owner_and_in_total(bay: Bay, driver: FakeDriver) -> None:
    bay.settings.max_sandboxes_per_owner = 2
    bay.settings.max_sandboxes_total = 3
    first = await bay.sandboxes.create("alice")
    await bay.sandboxes.create("alice")
    with pytest.raises(QuotaExceeded, match="delete some first") as refused:
        await bay.sandboxes.create("alice")
    assert refused.value.details["scope"] == "owner"
    await bay.sandboxes.create("bob")
    with pytest.raises(QuotaExceeded, match="try again later"):
        await bay.sandboxes.create("carol")
    assert len(driver.volumes) == 3  # nothing half-made by the refusals
    await bay.sandboxes.delete("alice", first.id)
    await bay.sandboxes.create("carol")
