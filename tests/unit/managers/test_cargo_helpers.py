"""Cargo helpers over the fake driver: started once per cargo, swept when idle or old."""

from __future__ import annotations

from typing import cast

from bay_mcp.drivers import Driver
from bay_mcp.managers import no_progress
from bay_mcp.managers.cargo_helpers import CargoHelpers
from bay_mcp.managers.images import ImageProvider
from bay_mcp.settings import Profile
from bay_mcp.storage.models import Cargo
from tests.fakes import FakeDriver, FakeShip


def helpers(driver: FakeDriver, *, idle_s: float = 30.0, max_age_s: float = 300.0) -> CargoHelpers:
    return CargoHelpers(
        cast(Driver, driver),
        FakeShip(driver),
        ImageProvider(cast(Driver, driver), auto_build=False, docker_host=None),
        Profile(id="python-default"),
        instance_id="bay-test",
        start_timeout=5.0,
        idle_s=idle_s,
        max_age_s=max_age_s,
    )


def cargo(cargo_id: str) -> Cargo:
    return Cargo(id=cargo_id, owner="alice", driver_ref=f"bay-cargo-{cargo_id}", managed=False)


async def test_one_helper_per_cargo_kept_while_in_use_and_swept_when_idle() -> None:
    driver = FakeDriver()
    manager = helpers(driver, idle_s=0.0)
    async with manager.endpoint(cargo("ws-a"), no_progress) as first:
        async with manager.endpoint(cargo("ws-a"), no_progress) as again:
            assert again.url == first.url
        assert await manager.sweep() == 0  # still in use
    assert len(driver.containers) == 1
    assert await manager.sweep() == 1
    assert driver.containers == {}
    await manager.close()


async def test_an_old_helper_is_swept_and_close_removes_the_rest() -> None:
    driver = FakeDriver()
    manager = helpers(driver, max_age_s=0.0)
    async with manager.endpoint(cargo("ws-a"), no_progress):
        pass
    assert await manager.sweep() == 1
    async with manager.endpoint(cargo("ws-b"), no_progress):
        pass
    async with manager.endpoint(cargo("ws-c"), no_progress):
        pass
    await manager.close()
    assert driver.containers == {}
