"""Sandbox rows: the queries that read a sandbox with its latest session and derived
status, a call's one read, the warm pool's claim, quotas' counts, and the writes of a
sandbox's life (created with its cargo, its expiry, its tombstone)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, func, update
from sqlalchemy import Select as SqlSelect
from sqlalchemy import select as sql_select
from sqlalchemy.orm import aliased
from sqlmodel import Session as SyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import Select

from bay_mcp.limits import POOL_OWNER
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import (
    Cargo,
    EgressLogEntry,
    Execution,
    Sandbox,
    Session,
    Snapshot,
    UTCDateTime,
    utcnow,
)
from bay_mcp.storage.paging import After, paged
from bay_mcp.storage.row_reads import columns_of, model_from

# A sandbox, its latest session (None when idle) and its derived status.
SandboxRow = tuple[Sandbox, Session | None, str]
# A sandbox with its cargo and its latest session: a call's one read.
CallRow = tuple[Sandbox, Cargo | None, Session | None]


def status_of(now: datetime | ColumnElement[datetime]) -> ColumnElement[str]:
    """A sandbox's status, derived in the query from its expiry and its latest session
    (never stored apart from them): the one definition list and get both use."""
    return case(
        (and_(col(Sandbox.expires_at).is_not(None), col(Sandbox.expires_at) <= now), "expired"),
        (col(Session.id).is_(None), "idle"),
        (col(Session.observed_state) == "ready", "ready"),
        (col(Session.observed_state) == "paused", "paused"),
        (col(Session.observed_state) == "unhealthy", "unhealthy"),
        (col(Session.observed_state) == "failed", "failed"),
        else_="starting",
    )


def _is_latest_session() -> ColumnElement[bool]:
    """The join condition of a sandbox's latest session (the one definition of it)."""
    other = aliased(Session)
    latest = (
        select(other.id)
        .where(other.sandbox_id == Sandbox.id)
        .order_by(col(other.created_at).desc())
        .limit(1)
        .correlate(Sandbox)
        .scalar_subquery()
    )
    return col(Session.id) == latest


def _with_latest_session(
    now: datetime | ColumnElement[datetime],
) -> Select[Sandbox, Session, str]:
    """Live sandboxes, each with its latest session (None when idle) and its status."""
    return (
        select(Sandbox, Session, status_of(now).label("status"))
        .outerjoin(Session, _is_latest_session())
        .where(col(Sandbox.deleted_at).is_(None))
    )


_SANDBOX_COLUMNS = columns_of(Sandbox)
_CARGO_COLUMNS = columns_of(Cargo)
_SESSION_COLUMNS = columns_of(Session)


def _sandbox_for_a_call() -> SqlSelect[Any]:
    """A sandbox's columns, its cargo's and its latest session's, by `:sandbox_id`;
    built once. Columns, not entities: `call_objects` builds the models."""
    return (
        sql_select(*_SANDBOX_COLUMNS, *_CARGO_COLUMNS, *_SESSION_COLUMNS)
        .outerjoin(Cargo, col(Cargo.id) == col(Sandbox.cargo_id))
        .outerjoin(Session, _is_latest_session())
        .where(col(Sandbox.id) == bindparam("sandbox_id"))
    )


FOR_A_CALL = _sandbox_for_a_call()


def call_objects(values: Sequence[Any]) -> CallRow:
    """The models of one `FOR_A_CALL` row (no cargo, no session: their id is NULL)."""
    cargo_at = len(_SANDBOX_COLUMNS)
    session_at = cargo_at + len(_CARGO_COLUMNS)
    sandbox = model_from(Sandbox, _SANDBOX_COLUMNS, values[:cargo_at])
    cargo = model_from(Cargo, _CARGO_COLUMNS, values[cargo_at:session_at])
    session = model_from(Session, _SESSION_COLUMNS, values[session_at:])
    return sandbox, cargo if cargo.id else None, session if session.id else None


# The oldest pool member of `:profile` whose session is ready (kernel warm). A member
# the pool retires gets an expiry (a member has none): from then on no claim takes it.
_READY_POOL_MEMBER = (
    select(Sandbox.id)
    .join(Session, col(Session.sandbox_id) == col(Sandbox.id))
    .where(
        col(Sandbox.owner) == POOL_OWNER,
        col(Sandbox.profile) == bindparam("profile"),
        col(Sandbox.deleted_at).is_(None),
        col(Sandbox.expires_at).is_(None),
        col(Session.observed_state) == "ready",
    )
    .order_by(col(Sandbox.created_at))
    .limit(1)
)
_CLAIM_ATTEMPTS = 5
# Take `:member` for `:owner_to`, as if made `:at`, if it is still the pool's (and not
# retired meanwhile).
_TAKE_MEMBER = (
    update(Sandbox)
    .where(
        col(Sandbox.id) == bindparam("member"),
        col(Sandbox.owner) == POOL_OWNER,
        col(Sandbox.expires_at).is_(None),
    )
    .values(
        owner=bindparam("owner_to"),
        expires_at=bindparam("expiry", type_=UTCDateTime()),
        created_at=bindparam("at", type_=UTCDateTime()),
        updated_at=bindparam("at", type_=UTCDateTime()),
        last_active_at=bindparam("at", type_=UTCDateTime()),
        version=col(Sandbox.version) + 1,
    )
)
# Its managed cargo goes with it.
_HAND_OVER_CARGO = (
    update(Cargo)
    .where(col(Cargo.managed_by_sandbox_id) == bindparam("member"))
    .values(owner=bindparam("owner_to"), updated_at=bindparam("at", type_=UTCDateTime()))
)
# A live sandbox with its latest session and its status at `:now`, by `:sandbox_id`.
_WITH_STATUS = _with_latest_session(bindparam("now", type_=UTCDateTime())).where(
    col(Sandbox.id) == bindparam("sandbox_id")
)


def _live_counts() -> SqlSelect[Any]:
    """How many live sandboxes `:owner` has, and how many all owners have (the pool's
    aside): one read, built once."""
    counts: tuple[ColumnElement[Any], ...] = (
        func.count().filter(col(Sandbox.owner) == bindparam("owner")),
        func.count().filter(col(Sandbox.owner) != POOL_OWNER),
    )
    return sql_select(*counts).where(col(Sandbox.deleted_at).is_(None))


LIVE_COUNTS = _live_counts()


def _two_counts(row: Sequence[Any]) -> tuple[int, int]:
    return int(row[0]), int(row[1])


def _claim_pool_member(
    db: SyncSession, profile_id: str, owner: str, expires_at: datetime | None
) -> SandboxRow | None:
    """`SandboxRepository.claim_pool_member`'s work, on a sync session."""
    for _ in range(_CLAIM_ATTEMPTS):
        member = db.exec(_READY_POOL_MEMBER, params={"profile": profile_id}).first()
        if member is None:
            return None
        now = utcnow()
        # Core statements: the ORM's bulk update would look for the rows among loaded
        # objects first, and this session has loaded none.
        connection = db.connection()
        claim = {"member": member, "owner_to": owner, "expiry": expires_at, "at": now}
        if connection.execute(_TAKE_MEMBER, claim).rowcount != 1:
            db.rollback()
            continue
        connection.execute(_HAND_OVER_CARGO, claim)
        sandbox, session, status = db.exec(
            _WITH_STATUS, params={"now": now, "sandbox_id": member}
        ).one()
        db.commit()
        return sandbox, session, status
    return None


_LAST_ACTIVE = (
    update(Sandbox)
    .where(col(Sandbox.id) == bindparam("sandbox"))
    .values(last_active_at=bindparam("at", type_=UTCDateTime()))
)


class SandboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, sandbox_id: str) -> Sandbox | None:
        """The row, deleted or not; None when there is none."""
        async with self._db.session() as db:
            return await db.get(Sandbox, sandbox_id)

    async def for_a_call(self, sandbox_id: str) -> CallRow | None:
        """The sandbox with its cargo and latest session, deleted or not: a call's one
        read (row_reads.py). The models are shared with other calls while the row stays
        the same: read them, never change them."""
        return await self._db.first(FOR_A_CALL, {"sandbox_id": sandbox_id}, call_objects)

    async def with_status(self, sandbox_id: str, now: datetime) -> SandboxRow:
        """A live sandbox with its latest session and its status at `now`."""
        async with self._db.session() as db:
            found = await db.exec(_WITH_STATUS, params={"now": now, "sandbox_id": sandbox_id})
            sandbox, session, status = found.one()
        return sandbox, session, status

    async def page(
        self,
        owner: str | None,
        now: datetime,
        status: str | None,
        after: After | None,
        fetch: int | None,
    ) -> list[SandboxRow]:
        """The owner's live sandboxes (None: every owner's, the pool's aside; of
        `status`, when given), oldest first."""
        query = _with_latest_session(now).where(
            col(Sandbox.owner) == owner if owner is not None else col(Sandbox.owner) != POOL_OWNER
        )
        if status is not None:
            query = query.where(status_of(now) == status)
        query = paged(query, col(Sandbox.created_at), col(Sandbox.id), after, fetch)
        async with self._db.session() as db:
            return [(s, session, state) for s, session, state in (await db.exec(query)).all()]

    async def live_among(self, sandbox_ids: list[str], owner: str | None) -> list[str]:
        """Which of these ids are live sandboxes of `owner` (None: of any owner, the
        pool's aside), in one query."""
        query = select(Sandbox.id).where(
            col(Sandbox.id).in_(sandbox_ids),
            col(Sandbox.deleted_at).is_(None),
            col(Sandbox.owner) == owner if owner is not None else col(Sandbox.owner) != POOL_OWNER,
        )
        async with self._db.session() as db:
            return list((await db.exec(query)).all())

    async def ids_newest_first(
        self, owner: str, prefix: str, now: datetime, fetch: int
    ) -> list[str]:
        """The ids of the owner's live, unexpired sandboxes starting with `prefix`,
        newest first, at most `fetch`: one query on the ids alone (for completions)."""
        query = (
            select(Sandbox.id)
            .where(
                col(Sandbox.owner) == owner,
                col(Sandbox.deleted_at).is_(None),
                col(Sandbox.id).startswith(prefix, autoescape=True),
                (col(Sandbox.expires_at).is_(None)) | (col(Sandbox.expires_at) > now),
            )
            .order_by(col(Sandbox.created_at).desc(), col(Sandbox.id).desc())
            .limit(fetch)
        )
        async with self._db.session() as db:
            return list((await db.exec(query)).all())

    async def count_by_status(self, now: datetime) -> dict[str, int]:
        """Live sandboxes of every owner (the pool's aside), by status."""
        status = status_of(now)
        query = (
            _with_latest_session(now)
            .where(col(Sandbox.owner) != POOL_OWNER)
            .with_only_columns(status, func.count())
            .group_by(status)
        )
        async with self._db.session() as db:
            rows = (await db.exec(query)).all()  # type: ignore[call-overload]
        return {str(state): int(count) for state, count in rows}

    async def live_counts(self, owner: str) -> tuple[int, int]:
        """How many live sandboxes `owner` has, and how many all owners have (the
        pool's aside)."""
        counts = await self._db.first(LIVE_COUNTS, {"owner": owner}, _two_counts)
        assert counts is not None  # an aggregate without GROUP BY gives one row
        return counts

    async def pool_members(self, now: datetime) -> list[tuple[Sandbox, Session | None]]:
        """Every live warm pool member with its latest session."""
        query = _with_latest_session(now).where(col(Sandbox.owner) == POOL_OWNER)
        async with self._db.session() as db:
            rows = (await db.exec(query)).all()
        return [(sandbox, session) for sandbox, session, _ in rows]

    async def insert(self, sandbox: Sandbox, cargo: Cargo | None = None) -> None:
        """Store a new sandbox (and its new managed cargo) in one transaction."""
        async with self._db.session() as db:
            if cargo is not None:
                db.add(cargo)
            db.add(sandbox)
            await db.commit()

    async def claim_pool_member(
        self, profile_id: str, owner: str, expires_at: datetime | None
    ) -> SandboxRow | None:
        """Hand the oldest ready pool member of `profile_id` (and its cargo) to `owner`,
        as if made now; the member with its latest session and status, None when there
        is none.

        The member is picked by a read, then taken by an update conditioned on it still
        being the pool's: of two claims (in this process or another on the same
        database) that picked the same one, one update matches and the other picks again.
        All of it is one unit of work, handed to the database at once (a create's path
        pays one hand-off, not one per statement).
        """
        return await self._db.write_behind(
            lambda db: _claim_pool_member(db, profile_id, owner, expires_at)
        )

    async def retire_pool_member(self, sandbox_id: str, now: datetime) -> bool:
        """Take an unclaimed pool member out of the pool: no claim takes it after this
        update, and should its removal not follow, the expiry sweep removes it. False
        when a claim took it first (it is an owner's sandbox now)."""
        async with self._db.session() as db:
            taken = await db.exec(
                update(Sandbox)
                .where(
                    col(Sandbox.id) == sandbox_id,
                    col(Sandbox.owner) == POOL_OWNER,
                    col(Sandbox.deleted_at).is_(None),
                    col(Sandbox.expires_at).is_(None),
                )
                .values(expires_at=now, version=col(Sandbox.version) + 1)
            )
            await db.commit()
            return bool(taken.rowcount == 1)

    async def note_stop(self, sandbox_id: str, why: str | None) -> None:
        """Say why Bay stopped the sandbox's session (None: a session started since)."""
        async with self._db.session() as db:
            await db.exec(
                update(Sandbox).where(col(Sandbox.id) == sandbox_id).values(last_stop=why)
            )
            await db.commit()

    async def extend_expiry(self, sandbox_id: str, seconds: int, now: datetime) -> Sandbox:
        """Move the expiry of a sandbox that has one to max(expiry, now) + seconds."""
        async with self._db.session() as db:
            row = await db.get(Sandbox, sandbox_id)
            assert row is not None
            assert row.expires_at is not None
            row.expires_at = max(row.expires_at, now) + timedelta(seconds=seconds)
            row.version += 1
            row.updated_at = now
            db.add(row)
            await db.commit()
        return row

    async def tombstone(
        self, sandbox_id: str, now: datetime, remove_volume: Callable[[str], Awaitable[None]]
    ) -> None:
        """Mark a live sandbox deleted, and delete its managed cargo, its history, its
        egress log and its snapshots in the same transaction. Each of their volumes is removed with
        `remove_volume` before the commit: one that fails leaves the rows as they were.
        A sandbox already deleted (or unknown) is left alone."""
        async with self._db.session() as db:
            row = await db.get(Sandbox, sandbox_id)
            if row is None or row.deleted_at is not None:
                return
            row.deleted_at = now
            row.version += 1
            db.add(row)
            cargo = await db.get(Cargo, row.cargo_id)
            if cargo is not None and cargo.managed:
                await remove_volume(cargo.driver_ref)
                await db.delete(cargo)
            await db.exec(delete(Execution).where(col(Execution.sandbox_id) == sandbox_id))
            gone = col(EgressLogEntry.sandbox_id) == sandbox_id
            await db.exec(delete(EgressLogEntry).where(gone))
            snapshots = await db.exec(select(Snapshot).where(Snapshot.sandbox_id == sandbox_id))
            for snapshot in snapshots.all():
                await remove_volume(snapshot.driver_ref)
                await db.delete(snapshot)
            await db.commit()

    async def expired(self, now: datetime) -> list[Sandbox]:
        """Live sandboxes whose expiry has passed."""
        async with self._db.session() as db:
            rows = await db.exec(
                select(Sandbox).where(
                    col(Sandbox.deleted_at).is_(None),
                    col(Sandbox.expires_at).is_not(None),
                    col(Sandbox.expires_at) <= now,
                )
            )
            return list(rows.all())

    async def with_sessions(self) -> list[Sandbox]:
        """Live sandboxes (the pool's aside: it rotates them) that have a session, each
        once."""
        async with self._db.session() as db:
            rows = (
                await db.exec(
                    select(Sandbox)
                    .join(Session, col(Session.sandbox_id) == col(Sandbox.id))
                    .where(col(Sandbox.deleted_at).is_(None), col(Sandbox.owner) != POOL_OWNER)
                )
            ).all()
        return list({row.id: row for row in rows}.values())

    async def write_last_active(self, times: dict[str, datetime]) -> None:
        """Set each sandbox's last use, one statement for all of them."""
        rows = [{"sandbox": sandbox_id, "at": at} for sandbox_id, at in times.items()]
        async with self._db.session() as db:
            connection = await db.connection()
            await connection.execute(_LAST_ACTIVE, rows)
            await db.commit()
