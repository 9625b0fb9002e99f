"""The egress log's rows: written in batches as the proxy reports them (capped per
sandbox, the newest kept), read newest first, deleted with their sandbox."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert
from sqlmodel import Session, col, select

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import EgressLogEntry, Sandbox


def _insert_and_trim(db: Session, rows: Sequence[dict[str, object]], keep: int) -> None:
    live = set(
        db.exec(
            select(Sandbox.id).where(
                col(Sandbox.id).in_({row["sandbox_id"] for row in rows}),
                col(Sandbox.deleted_at).is_(None),
            )
        ).all()
    )
    rows = [row for row in rows if row["sandbox_id"] in live]
    if rows:
        db.exec(insert(EgressLogEntry), params=rows)
    for sandbox_id in live:
        count = db.exec(
            select(func.count()).where(col(EgressLogEntry.sandbox_id) == sandbox_id)
        ).one()
        if count <= keep:
            continue
        newest = (
            select(EgressLogEntry.id)
            .where(col(EgressLogEntry.sandbox_id) == sandbox_id)
            .order_by(col(EgressLogEntry.id).desc())
            .limit(keep)
        )
        db.exec(
            delete(EgressLogEntry).where(
                col(EgressLogEntry.sandbox_id) == sandbox_id,
                col(EgressLogEntry.id).not_in(newest),
            )
        )
    db.commit()


class EgressLogRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, rows: Sequence[dict[str, object]], keep: int) -> None:
        """Insert the rows (EgressLogEntry's columns) of live sandboxes; past `keep` a
        sandbox, its oldest go. A sandbox's rows go with it (SandboxRepository.tombstone)."""
        await self._db.write_behind(lambda db: _insert_and_trim(db, rows, keep))

    async def newest(
        self, sandbox_id: str, limit: int, before: int | None = None
    ) -> Sequence[EgressLogEntry]:
        conditions = [col(EgressLogEntry.sandbox_id) == sandbox_id]
        if before is not None:
            conditions.append(col(EgressLogEntry.id) < before)
        async with self._db.session() as db:
            found = await db.exec(
                select(EgressLogEntry)
                .where(*conditions)
                .order_by(col(EgressLogEntry.id).desc())
                .limit(limit)
            )
            return found.all()
