"""Snapshot rows: copies of a sandbox's cargo, and what an owner's snapshots add up to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, func, select

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Snapshot


class SnapshotRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, snapshot_id: str) -> Snapshot | None:
        async with self._db.session() as db:
            return await db.get(Snapshot, snapshot_id)

    async def insert(self, snapshot: Snapshot) -> None:
        async with self._db.session() as db:
            db.add(snapshot)
            await db.commit()

    async def delete(self, snapshot_id: str) -> None:
        """Delete the row, if there is one."""
        async with self._db.session() as db:
            row = await db.get(Snapshot, snapshot_id)
            if row is not None:
                await db.delete(row)
                await db.commit()

    async def of_sandbox(self, sandbox_id: str) -> Sequence[Snapshot]:
        """The sandbox's snapshots, oldest first."""
        async with self._db.session() as db:
            return (
                await db.exec(
                    select(Snapshot)
                    .where(Snapshot.sandbox_id == sandbox_id)
                    .order_by(col(Snapshot.created_at), col(Snapshot.id))
                )
            ).all()

    async def usage(self, owner: str) -> tuple[int, int]:
        """How many snapshots the owner has, and their bytes."""
        async with self._db.session() as db:
            count, total = (
                await db.exec(
                    select(func.count(), func.coalesce(func.sum(Snapshot.size_bytes), 0)).where(
                        Snapshot.owner == owner
                    )
                )
            ).one()
        return count, int(total)  # PostgreSQL sums a BIGINT column to a NUMERIC (a Decimal)

    async def few_of_owner(self, owner: str, *, largest: bool) -> Sequence[Snapshot]:
        """Five of the owner's snapshots: the oldest, or the largest."""
        order = col(Snapshot.size_bytes).desc() if largest else col(Snapshot.created_at)
        async with self._db.session() as db:
            query = select(Snapshot).where(Snapshot.owner == owner).order_by(order).limit(5)
            return (await db.exec(query)).all()
