"""Cargo rows: the volumes at /workspace, who uses each, and what names every volume
Bay made (for the reaper's orphan search)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlmodel import col, select

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Cargo, Sandbox, Snapshot
from bay_mcp.storage.paging import After, paged


@dataclass(frozen=True)
class VolumeCensus:
    """What the database says of volumes, read at one moment: cargos and snapshots by
    their volume, and which sandboxes are live and which deleted."""

    cargos: dict[str, Cargo]
    snapshots: dict[str, Snapshot]
    live: set[str]
    deleted: set[str]


class CargoRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, cargo_id: str) -> Cargo | None:
        async with self._db.session() as db:
            return await db.get(Cargo, cargo_id)

    async def insert(self, cargo: Cargo) -> None:
        async with self._db.session() as db:
            db.add(cargo)
            await db.commit()

    async def page(
        self, owner: str, managed: bool, after: After | None, fetch: int | None
    ) -> list[Cargo]:
        """The owner's cargos, managed or external, oldest first."""
        query = paged(
            select(Cargo).where(col(Cargo.owner) == owner, col(Cargo.managed) == managed),
            col(Cargo.created_at),
            col(Cargo.id),
            after,
            fetch,
        )
        async with self._db.session() as db:
            return list((await db.exec(query)).all())

    async def users(self, cargo_id: str) -> list[str]:
        """The live sandboxes that mount the cargo."""
        async with self._db.session() as db:
            return list(
                (
                    await db.exec(
                        select(Sandbox.id).where(
                            Sandbox.cargo_id == cargo_id, col(Sandbox.deleted_at).is_(None)
                        )
                    )
                ).all()
            )

    async def delete(self, cargo_id: str, remove_volume: Callable[[], Awaitable[None]]) -> None:
        """Delete the cargo's row, calling `remove_volume` before the commit: when that
        fails, the row stays."""
        async with self._db.session() as db:
            row = await db.get(Cargo, cargo_id)
            assert row is not None
            await db.delete(row)
            await remove_volume()
            await db.commit()

    async def delete_row(self, cargo_id: str) -> None:
        """Delete the cargo's row, if there is one (its volume is gone)."""
        async with self._db.session() as db:
            row = await db.get(Cargo, cargo_id)
            if row is not None:
                await db.delete(row)
                await db.commit()

    async def volume_census(self) -> VolumeCensus:
        async with self._db.session() as db:
            cargos = {c.driver_ref: c for c in (await db.exec(select(Cargo))).all()}
            snapshots = {s.driver_ref: s for s in (await db.exec(select(Snapshot))).all()}
            live = set(
                (await db.exec(select(Sandbox.id).where(col(Sandbox.deleted_at).is_(None)))).all()
            )
            deleted = {
                s.id
                for s in (
                    await db.exec(select(Sandbox).where(col(Sandbox.deleted_at).is_not(None)))
                ).all()
            }
        return VolumeCensus(cargos, snapshots, live, deleted)
