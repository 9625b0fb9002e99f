"""A cargo's volume: no volume is left without the call that made it."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from bay_mcp.drivers import Driver
from bay_mcp.managers.cargos import CargoManager


class SlowVolumes:
    """Volumes made by a Docker that answers only when the test says so."""

    def __init__(self) -> None:
        self.volumes: set[str] = set()
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()
        self.made = asyncio.Event()

    async def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.asked.set()
        # A request sent is Docker's: it makes the volume even if the caller stops
        # waiting for the answer.
        await asyncio.shield(self._make(name))

    async def _make(self, name: str) -> None:
        await self.answer.wait()
        self.volumes.add(name)
        self.made.set()

    async def remove_volume(self, name: str) -> None:
        self.volumes.discard(name)


async def test_a_create_cancelled_while_the_volume_is_made_removes_it() -> None:
    # Bay stopping cancels its warm pool's refill, sometimes while Docker makes the
    # member's volume: once Docker answers, the volume is removed again.
    driver = SlowVolumes()
    manager = CargoManager(cast(Driver, driver), "bay-test")
    creating = asyncio.create_task(manager.create(owner="bay:pool", managed_by_sandbox_id="s1"))
    await driver.asked.wait()
    creating.cancel()
    await asyncio.sleep(0)  # the cancellation lands before Docker's answer
    driver.answer.set()
    with pytest.raises(asyncio.CancelledError):
        await creating
    await driver.made.wait()
    assert driver.volumes == set()


async def test_a_create_not_cancelled_keeps_its_volume_and_returns_its_row() -> None:
    driver = SlowVolumes()
    driver.answer.set()
    manager = CargoManager(cast(Driver, driver), "bay-test")
    cargo = await manager.create(owner="alice", managed_by_sandbox_id=None)
    assert driver.volumes == {cargo.driver_ref}
    assert (cargo.owner, cargo.managed) == ("alice", False)
