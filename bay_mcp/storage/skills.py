"""Skill rows: payloads, candidates, evaluations and releases, each an owner's; pages
with filters, newest first; a release made and the skill's others deactivated in one
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import (
    Execution,
    SkillCandidate,
    SkillEvaluation,
    SkillPayload,
    SkillRelease,
)

_VERSION_ATTEMPTS = 5


@dataclass(frozen=True)
class CandidateFilter:
    owner: str
    status: str | None = None
    skill_key: str | None = None


@dataclass(frozen=True)
class ReleaseFilter:
    owner: str
    skill_key: str | None = None
    active_only: bool = False
    stage: str | None = None


def _candidate_conditions(which: CandidateFilter) -> list[ColumnElement[bool]]:
    conditions = [
        col(SkillCandidate.owner) == which.owner,
        col(SkillCandidate.is_deleted).is_(False),
    ]
    if which.status is not None:
        conditions.append(col(SkillCandidate.status) == which.status)
    if which.skill_key is not None:
        conditions.append(col(SkillCandidate.skill_key) == which.skill_key)
    return conditions


def _release_conditions(which: ReleaseFilter) -> list[ColumnElement[bool]]:
    conditions = [
        col(SkillRelease.owner) == which.owner,
        col(SkillRelease.is_deleted).is_(False),
    ]
    if which.skill_key is not None:
        conditions.append(col(SkillRelease.skill_key) == which.skill_key)
    if which.active_only:
        conditions.append(col(SkillRelease.is_active).is_(True))
    if which.stage is not None:
        conditions.append(col(SkillRelease.stage) == which.stage)
    return conditions


async def _next_version(db: AsyncSession, owner: str, skill_key: str) -> int:
    # Deleted releases count: a version number is never given twice.
    latest = (
        await db.exec(
            select(func.max(SkillRelease.version)).where(
                col(SkillRelease.owner) == owner, col(SkillRelease.skill_key) == skill_key
            )
        )
    ).one()
    return int(latest or 0) + 1


class SkillRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, row: SkillPayload | SkillCandidate | SkillEvaluation) -> None:
        async with self._db.session() as db:
            db.add(row)
            await db.commit()

    async def save(self, *rows: SkillCandidate | SkillRelease | SkillEvaluation) -> None:
        """Write the rows' changes (or insert them) in one transaction."""
        async with self._db.session() as db:
            for row in rows:
                await db.merge(row)
            await db.commit()

    async def payload(self, owner: str, payload_id: str) -> SkillPayload | None:
        async with self._db.session() as db:
            row = await db.get(SkillPayload, payload_id)
        return row if row is not None and row.owner == owner else None

    async def candidate(self, owner: str, candidate_id: str) -> SkillCandidate | None:
        async with self._db.session() as db:
            row = await db.get(SkillCandidate, candidate_id)
        return row if row is not None and row.owner == owner and not row.is_deleted else None

    async def release(self, owner: str, release_id: str) -> SkillRelease | None:
        async with self._db.session() as db:
            row = await db.get(SkillRelease, release_id)
        return row if row is not None and row.owner == owner and not row.is_deleted else None

    async def candidates(
        self, which: CandidateFilter, limit: int, offset: int
    ) -> tuple[int, Sequence[SkillCandidate]]:
        conditions = _candidate_conditions(which)
        async with self._db.session() as db:
            total = (
                await db.exec(select(func.count()).select_from(SkillCandidate).where(*conditions))
            ).one()
            rows = (
                await db.exec(
                    select(SkillCandidate)
                    .where(*conditions)
                    .order_by(col(SkillCandidate.created_at).desc(), col(SkillCandidate.id))
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        return total, rows

    async def releases(
        self, which: ReleaseFilter, limit: int, offset: int
    ) -> tuple[int, Sequence[SkillRelease]]:
        conditions = _release_conditions(which)
        async with self._db.session() as db:
            total = (
                await db.exec(select(func.count()).select_from(SkillRelease).where(*conditions))
            ).one()
            rows = (
                await db.exec(
                    select(SkillRelease)
                    .where(*conditions)
                    .order_by(col(SkillRelease.version).desc(), col(SkillRelease.id))
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        return total, rows

    async def previous_release(
        self, owner: str, skill_key: str, version: int, *, with_deleted: bool
    ) -> SkillRelease | None:
        """The skill's release just before `version`."""
        conditions = [
            col(SkillRelease.owner) == owner,
            col(SkillRelease.skill_key) == skill_key,
            col(SkillRelease.version) < version,
        ]
        if not with_deleted:
            conditions.append(col(SkillRelease.is_deleted).is_(False))
        async with self._db.session() as db:
            return (
                await db.exec(
                    select(SkillRelease)
                    .where(*conditions)
                    .order_by(col(SkillRelease.version).desc())
                    .limit(1)
                )
            ).first()

    async def latest_evaluation(self, owner: str, candidate_id: str) -> SkillEvaluation | None:
        async with self._db.session() as db:
            return (
                await db.exec(
                    select(SkillEvaluation)
                    .where(
                        col(SkillEvaluation.owner) == owner,
                        col(SkillEvaluation.candidate_id) == candidate_id,
                    )
                    .order_by(col(SkillEvaluation.created_at).desc())
                    .limit(1)
                )
            ).first()

    async def release_new(
        self, release: SkillRelease, changed: Sequence[SkillCandidate]
    ) -> SkillRelease:
        """Insert `release` as the skill's next version and its active one (the others
        deactivated), with the candidates' changes, in one transaction."""
        for attempt in range(_VERSION_ATTEMPTS):
            try:
                await self._release_new(release, changed)
                return release
            except IntegrityError:
                # Another Bay on the database took that version meanwhile: the next.
                if attempt == _VERSION_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _release_new(self, release: SkillRelease, changed: Sequence[SkillCandidate]) -> None:
        async with self._db.session() as db:
            release.version = await _next_version(db, release.owner, release.skill_key)
            await db.exec(
                update(SkillRelease)
                .where(
                    col(SkillRelease.owner) == release.owner,
                    col(SkillRelease.skill_key) == release.skill_key,
                    col(SkillRelease.is_active).is_(True),
                )
                .values(is_active=False)
            )
            db.add(release)
            for candidate in changed:
                await db.merge(candidate)
            await db.commit()

    async def active_releases(self, owner: str) -> Sequence[SkillRelease]:
        """The owner's active releases, one per skill, by skill key."""
        which = ReleaseFilter(owner=owner, active_only=True)
        async with self._db.session() as db:
            return (
                await db.exec(
                    select(SkillRelease)
                    .where(*_release_conditions(which))
                    .order_by(col(SkillRelease.skill_key))
                )
            ).all()

    async def executions(self, owner: str, ids: Sequence[str]) -> Sequence[Execution]:
        """The owner's runs among `ids`."""
        async with self._db.session() as db:
            return (
                await db.exec(
                    select(Execution).where(
                        col(Execution.owner) == owner, col(Execution.id).in_(list(ids))
                    )
                )
            ).all()

    async def tagged_runs(
        self, owner: str, tag: str, start: datetime, end: datetime
    ) -> Sequence[tuple[bool, int]]:
        """(success, duration ms) of the owner's runs between `start` and `end` that carry
        `tag` (upstream measures a release by the runs tagged `release:<id>`)."""
        tagged = "," + col(Execution.tags) + ","
        async with self._db.session() as db:
            rows: Sequence[Any] = (
                await db.exec(
                    select(Execution.success, Execution.execution_time_ms).where(
                        col(Execution.owner) == owner,
                        col(Execution.created_at) >= start,
                        col(Execution.created_at) <= end,
                        tagged.contains(f",{tag},", autoescape=True),
                    )
                )
            ).all()
        return [(bool(success), int(ms)) for success, ms in rows]
