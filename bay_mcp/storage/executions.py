"""Execution rows: the history of a sandbox's runs, written in batches behind the
calls (capped per sandbox), read in pages with filters, annotated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, insert, literal
from sqlmodel import Session, col, select

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Execution, Sandbox


@dataclass(frozen=True)
class ExecutionFilter:
    """Which of a sandbox's runs a page holds; None: any."""

    sandbox_id: str
    exec_type: str | None = None
    success_only: bool = False
    # Runs carrying every one of these tags.
    tags: Sequence[str] = ()
    has_notes: bool | None = None
    has_description: bool | None = None


def _insert_and_trim(db: Session, rows: Sequence[Mapping[str, object]], max_entries: int) -> None:
    """One batch in one transaction (sync: it runs on the database's writer thread)."""
    # Core's executemany: the ORM's unit of work costs more than the rows.
    db.exec(insert(Execution), params=rows)
    # A sandbox deleted while its last runs waited here takes them along.
    gone = select(Sandbox.id).where(col(Sandbox.deleted_at).is_not(None))
    db.exec(
        delete(Execution).where(
            col(Execution.id).in_([row["id"] for row in rows]),
            col(Execution.sandbox_id).in_(gone),
        )
    )
    for sandbox_id in {row["sandbox_id"] for row in rows}:
        # Counting on the index is cheap; the trim sorts: only when over the cap.
        kept = db.exec(select(func.count()).where(col(Execution.sandbox_id) == sandbox_id)).one()
        if kept <= max_entries:
            continue
        keep = (
            select(Execution.id)
            .where(col(Execution.sandbox_id) == sandbox_id)
            .order_by(col(Execution.created_at).desc(), col(Execution.id).desc())
            .limit(max_entries)
        )
        db.exec(
            delete(Execution).where(
                col(Execution.sandbox_id) == sandbox_id, col(Execution.id).not_in(keep)
            )
        )
    db.commit()


def _conditions(which: ExecutionFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(Execution.sandbox_id) == which.sandbox_id]
    if which.exec_type is not None:
        conditions.append(col(Execution.exec_type) == which.exec_type)
    if which.success_only:
        conditions.append(col(Execution.success).is_(True))
    for tag in which.tags:
        # LIKE with the tag escaped: the same on SQLite and PostgreSQL.
        tagged = literal(",") + col(Execution.tags) + ","
        conditions.append(tagged.contains(f",{tag},", autoescape=True))
    if which.has_notes is not None:
        present = col(Execution.notes).is_not(None) & (col(Execution.notes) != "")
        conditions.append(present if which.has_notes else ~present)
    if which.has_description is not None:
        present = col(Execution.description).is_not(None) & (col(Execution.description) != "")
        conditions.append(present if which.has_description else ~present)
    return conditions


class ExecutionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def write_batch(self, rows: Sequence[Mapping[str, object]], max_entries: int) -> None:
        """Insert the rows (Execution's columns) on the writer thread, dropping those of
        sandboxes deleted meanwhile and, past `max_entries` a sandbox, its oldest."""
        await self._db.write_behind(lambda db: _insert_and_trim(db, rows, max_entries))

    async def page(
        self, which: ExecutionFilter, limit: int, offset: int
    ) -> tuple[int, Sequence[Execution]]:
        """How many runs match, and `limit` of them from `offset`, newest first."""
        conditions = _conditions(which)
        async with self._db.session() as db:
            total = (
                await db.exec(select(func.count()).select_from(Execution).where(*conditions))
            ).one()
            rows = (
                await db.exec(
                    select(Execution)
                    .where(*conditions)
                    .order_by(col(Execution.created_at).desc(), col(Execution.id).desc())
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        return total, rows

    async def get(self, execution_id: str) -> Execution | None:
        async with self._db.session() as db:
            return await db.get(Execution, execution_id)

    async def update(self, execution_id: str, values: Mapping[str, object]) -> Execution:
        """Set `values` on a run that exists; the row as it is then."""
        async with self._db.session() as db:
            row = await db.get(Execution, execution_id)
            assert row is not None
            for key, value in values.items():
                setattr(row, key, value)
            db.add(row)
            await db.commit()
            return row
