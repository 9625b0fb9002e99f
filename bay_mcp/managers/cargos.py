"""Cargo volumes: the volume at /workspace, made and removed here. Its row is the
caller's to store, or to give up with `discard` (no volume is left without a row).

Snapshots of a cargo are volumes too (`bay-snapshot-<id>`), made and filled here.
"""

from __future__ import annotations

import logging

from bay_mcp.drivers import Driver, VolumeCopy
from bay_mcp.drivers.undo import created_or_undone
from bay_mcp.limits import MAX_COPY_S
from bay_mcp.managers import labels
from bay_mcp.managers.cargo_helpers import CargoHelpers
from bay_mcp.storage.models import Cargo, new_id

log = logging.getLogger(__name__)


class CargoManager:
    def __init__(
        self, driver: Driver, instance_id: str, helpers: CargoHelpers | None = None
    ) -> None:
        self._driver = driver
        self._instance_id = instance_id
        self._helpers = helpers

    async def create(
        self,
        *,
        owner: str,
        managed_by_sandbox_id: str | None,
        size_limit_mb: int | None = None,
    ) -> Cargo:
        """Create the volume; return its row, not stored yet (the caller stores it).

        If the caller cannot store it, it must call `discard` so no volume is left.
        """
        cargo_id = new_id("ws")
        volume = labels.cargo_volume_name(cargo_id)
        volume_labels = {
            labels.INSTANCE: self._instance_id,
            labels.OWNER: owner,
            labels.CARGO: cargo_id,
            labels.MANAGED: "true",
        }
        if managed_by_sandbox_id is not None:
            volume_labels[labels.SANDBOX] = managed_by_sandbox_id
        await self._create_volume(volume, volume_labels)
        return Cargo(
            id=cargo_id,
            owner=owner,
            driver_ref=volume,
            managed=managed_by_sandbox_id is not None,
            managed_by_sandbox_id=managed_by_sandbox_id,
            size_limit_mb=size_limit_mb,
        )

    async def _create_volume(self, volume: str, volume_labels: dict[str, str]) -> None:
        await created_or_undone(
            self._driver.create_volume(volume, volume_labels),
            lambda _: self._driver.remove_volume(volume),
            f"volume {volume}",
        )

    async def discard(self, cargo: Cargo) -> None:
        """Remove a cargo's volume (its row is the caller's to delete)."""
        if self._helpers is not None:
            await self._helpers.discard(cargo.id)  # the engine keeps a mounted volume
        await self._driver.remove_volume(cargo.driver_ref)

    async def create_snapshot_volume(self, *, owner: str, sandbox_id: str, snapshot_id: str) -> str:
        """An empty volume for a snapshot of `sandbox_id`'s cargo; its name."""
        volume = labels.snapshot_volume_name(snapshot_id)
        await self._create_volume(
            volume,
            {
                labels.INSTANCE: self._instance_id,
                labels.OWNER: owner,
                labels.SANDBOX: sandbox_id,
                labels.SNAPSHOT: snapshot_id,
                labels.MANAGED: "true",
            },
        )
        return volume

    async def copy(
        self, source: str, target: str, image: str, *, replace: bool = False
    ) -> VolumeCopy:
        """Copy volume `source`'s files into `target` (emptied first when `replace`) with
        a helper made from `image`. DriverError or Timeout (after MAX_COPY_S) on failure."""
        return await self._driver.copy_volume(
            source,
            target,
            image=image,
            labels={
                labels.INSTANCE: self._instance_id,
                labels.ROLE: labels.COPY_ROLE,
                labels.MANAGED: "true",
            },
            replace=replace,
            timeout=MAX_COPY_S,
        )

    async def remove_volume(self, volume: str) -> None:
        if self._helpers is not None:
            await self._helpers.discard_volume(volume)  # the engine keeps a mounted volume
        await self._driver.remove_volume(volume)
