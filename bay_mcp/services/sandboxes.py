"""Sandboxes: create, find, stop, delete, TTLs, and the gate every capability call
passes through (owner, expiry, capability, then a running session)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, func, update
from sqlalchemy import Select as SqlSelect
from sqlalchemy import select as sql_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.sql.expression import Select

from bay_mcp.adapters.ship_client import ShipEndpoint
from bay_mcp.environment import check_env
from bay_mcp.errors import (
    CapabilityNotSupported,
    Conflict,
    NotFound,
    QuotaExceeded,
    SandboxExpired,
    SandboxTtlInfinite,
    ValidationFailed,
)
from bay_mcp.limits import DEFAULT_PROFILE, MAX_TTL_SECONDS, MB, POOL_OWNER
from bay_mcp.logs import about, sandbox_var
from bay_mcp.managers import Progress
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.managers.cargos import CargoManager
from bay_mcp.managers.gate import SandboxGate
from bay_mcp.managers.sessions import SessionManager, StartContext
from bay_mcp.metrics import Metrics
from bay_mcp.services.paging import Page, PageRequest, cut, paged
from bay_mcp.services.views import ContainerView, ProfileView, SandboxStatus, SandboxView
from bay_mcp.settings import BaySettings, Capability, Profile
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Cargo, Execution, Sandbox, Session, Snapshot, new_id, utcnow
from bay_mcp.storage.row_reads import columns_of, model_from

log = logging.getLogger(__name__)


def status_of(now: datetime) -> ColumnElement[str]:
    """A sandbox's status, derived in the query from its expiry and its latest session
    (never stored apart from them): the one definition list and get both use."""
    return case(
        (and_(col(Sandbox.expires_at).is_not(None), col(Sandbox.expires_at) <= now), "expired"),
        (col(Session.id).is_(None), "idle"),
        (col(Session.observed_state) == "ready", "ready"),
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


def _with_latest_session(now: datetime) -> Select[Sandbox, Session, str]:
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
    built once. Columns, not entities: `_call_objects` builds the models."""
    return (
        sql_select(*_SANDBOX_COLUMNS, *_CARGO_COLUMNS, *_SESSION_COLUMNS)
        .outerjoin(Cargo, col(Cargo.id) == col(Sandbox.cargo_id))
        .outerjoin(Session, _is_latest_session())
        .where(col(Sandbox.id) == bindparam("sandbox_id"))
    )


_FOR_A_CALL = _sandbox_for_a_call()
CallRow = tuple[Sandbox, Cargo | None, Session | None]


def _call_objects(values: Sequence[Any]) -> CallRow:
    """The models of one `_FOR_A_CALL` row (no cargo, no session: their id is NULL)."""
    cargo_at = len(_SANDBOX_COLUMNS)
    session_at = cargo_at + len(_CARGO_COLUMNS)
    sandbox = model_from(Sandbox, _SANDBOX_COLUMNS, values[:cargo_at])
    cargo = model_from(Cargo, _CARGO_COLUMNS, values[cargo_at:session_at])
    session = model_from(Session, _SESSION_COLUMNS, values[session_at:])
    return sandbox, cargo if cargo.id else None, session if session.id else None


# The oldest pool member of `:profile` whose session is ready (kernel warm).
_READY_POOL_MEMBER = (
    select(Sandbox.id)
    .join(Session, col(Session.sandbox_id) == col(Sandbox.id))
    .where(
        col(Sandbox.owner) == POOL_OWNER,
        col(Sandbox.profile) == bindparam("profile"),
        col(Sandbox.deleted_at).is_(None),
        col(Session.observed_state) == "ready",
    )
    .order_by(col(Sandbox.created_at))
    .limit(1)
)
_CLAIM_ATTEMPTS = 5


def _live(sandbox: Sandbox | None, owner: str, sandbox_id: str) -> Sandbox:
    """`sandbox` if it is a live sandbox of `owner`; NotFound for unknown, another
    owner's, or deleted."""
    if sandbox is None or sandbox.owner != owner:
        raise NotFound(
            f"sandbox {sandbox_id} not found: check the id (list_sandboxes shows yours) "
            "or create one with create_sandbox"
        )
    if sandbox.deleted_at is not None:
        raise NotFound(f"sandbox {sandbox_id} was deleted; create a new one with create_sandbox")
    return sandbox


def profile_view(profile: Profile) -> ProfileView:
    return ProfileView(
        id=profile.id,
        image=profile.image,
        cpus=profile.cpus,
        memory_mb=profile.memory_mb,
        capabilities=list(profile.capabilities),
        idle_timeout_seconds=profile.idle_timeout_seconds,
        description=profile.description,
    )


class SandboxService:
    def __init__(
        self,
        db: Database,
        settings: BaySettings,
        sessions: SessionManager,
        cargos: CargoManager,
        activity: ActivityClock,
        metrics: Metrics,
        gate: SandboxGate,
    ) -> None:
        self._gate = gate
        self._activity = activity
        self._metrics = metrics
        # Set by every claim (hit or miss): the warm pool's refill waits on it.
        self.pool_drained = asyncio.Event()
        self._db = db
        self._settings = settings
        self._sessions = sessions
        self._cargos = cargos

    # -- profiles -------------------------------------------------------------------

    def profiles(self) -> list[ProfileView]:
        return [profile_view(profile) for profile in self._settings.profiles]

    def _profile(self, profile_id: str) -> Profile:
        profile = self._settings.profile(profile_id)
        if profile is None:
            known = [p.id for p in self._settings.profiles]
            raise ValidationFailed(
                f"unknown profile {profile_id!r}: use one of {known} (list_profiles shows them)",
                {"fields": ["profile"], "available": known},
            )
        return profile

    # -- lookups --------------------------------------------------------------------

    async def _row(self, owner: str, sandbox_id: str) -> Sandbox:
        """The caller's live sandbox; NotFound for unknown, another owner's, or deleted."""
        async with self._db.session() as db:
            sandbox = await db.get(Sandbox, sandbox_id)
        return _live(sandbox, owner, sandbox_id)

    async def _row_for_a_call(self, owner: str, sandbox_id: str) -> CallRow:
        """The caller's live sandbox with its cargo and latest session: a call's one read.
        The models are shared with other calls while the row stays the same: read them,
        never change them."""
        row = await self._db.first(_FOR_A_CALL, {"sandbox_id": sandbox_id}, _call_objects)
        sandbox, cargo, session = row if row is not None else (None, None, None)
        return _live(sandbox, owner, sandbox_id), cargo, session

    async def _one(self, sandbox: Sandbox, *, with_containers: bool = False) -> SandboxView:
        query = _with_latest_session(utcnow()).where(col(Sandbox.id) == sandbox.id)
        async with self._db.session() as db:
            row, session, status = (await db.exec(query)).one()
        return self._view(row, session, status, with_containers=with_containers)

    def _view(
        self,
        sandbox: Sandbox,
        session: Session | None,
        status: str,
        *,
        with_containers: bool = False,
    ) -> SandboxView:
        profile = self._settings.profile(sandbox.profile)
        capabilities = list(profile.capabilities) if profile else []
        idle_expires_at = None
        if session is not None and profile is not None:
            last_active = self._activity.last_active(sandbox.id, sandbox.last_active_at)
            idle_expires_at = last_active + timedelta(seconds=profile.idle_timeout_seconds)
        containers: list[ContainerView] | None = None
        if with_containers and session is not None:
            containers = [
                ContainerView(
                    name=f"bay-{session.id}",
                    runtime_type=session.runtime_type,
                    status=session.observed_state,
                    capabilities=capabilities,
                    version=session.runtime_version,
                    healthy=session.observed_state == "ready",
                )
            ]
        return SandboxView(
            id=sandbox.id,
            status=cast(SandboxStatus, status),  # one of status_of's values
            profile=sandbox.profile,
            cargo_id=sandbox.cargo_id,
            capabilities=capabilities,
            created_at=sandbox.created_at,
            expires_at=sandbox.expires_at,
            idle_expires_at=idle_expires_at,
            env=sorted({*(profile.env if profile else {}), *sandbox.env}),
            containers=containers,
        )

    # -- lifecycle ------------------------------------------------------------------

    async def create(
        self,
        owner: str,
        *,
        profile: str = DEFAULT_PROFILE,
        ttl_seconds: int | None = None,
        cargo_id: str | None = None,
        env: dict[str, str] | None = None,
    ) -> SandboxView:
        """A new sandbox: a warm pool member when the profile keeps a pool and nothing
        asks for a different one (an external cargo, its own environment), else rows
        and (for managed cargo) a volume, with no container started yet. `env` (over
        the profile's) reaches every process of every session."""
        chosen = self._profile(profile)
        check_env(env or {})
        if ttl_seconds is not None and not 0 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ValidationFailed(
                f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}, or 0/null for no TTL",
                {"fields": ["ttl_seconds"]},
            )
        await self._check_quota(owner)
        now = utcnow()
        expires_at = now + timedelta(seconds=ttl_seconds) if ttl_seconds else None
        if chosen.pool_size and cargo_id is None and not env:
            claimed = await self._claim_pooled(owner, chosen, expires_at)
            self._metrics.pool_claims.labels(
                profile=chosen.id, outcome="hit" if claimed else "miss"
            ).inc()
            self.pool_drained.set()
            if claimed is not None:
                log.info(
                    "owner %s created sandbox %s (profile %s) from the warm pool",
                    owner,
                    claimed.id,
                    chosen.id,
                )
                return await self._one(claimed)
        sandbox = await self._create_rows(owner, chosen, expires_at, cargo_id, env or {})
        log.info("owner %s created sandbox %s (profile %s)", owner, sandbox.id, chosen.id)
        return await self._one(sandbox)

    async def create_fork(self, source: Sandbox) -> Sandbox:
        """A new sandbox like `source` (owner, profile, environment, expiry) with a new,
        empty managed cargo: never a pool member. QuotaExceeded as create."""
        await self._check_quota(source.owner)
        sandbox = await self._create_rows(
            source.owner, self._profile(source.profile), source.expires_at, None, source.env
        )
        log.info("owner %s forked sandbox %s as %s", source.owner, source.id, sandbox.id)
        return sandbox

    async def create_pool_member(self, profile: Profile) -> Sandbox:
        """A sandbox for the warm pool: no owner's, no quota's, no TTL."""
        return await self._create_rows(POOL_OWNER, profile, None, None, {})

    async def _create_rows(
        self,
        owner: str,
        chosen: Profile,
        expires_at: datetime | None,
        cargo_id: str | None,
        env: dict[str, str],
    ) -> Sandbox:
        now = utcnow()
        sandbox = Sandbox(
            id=new_id("sandbox"),
            owner=owner,
            profile=chosen.id,
            cargo_id="",
            expires_at=expires_at,
            env=dict(env),
            created_at=now,
            updated_at=now,
            last_active_at=now,
        )
        created_cargo: Cargo | None = None
        async with self._db.session() as db:
            if cargo_id is not None:
                cargo = await db.get(Cargo, cargo_id)
                if cargo is None or cargo.owner != owner:
                    raise NotFound(f"cargo {cargo_id} not found")
                if cargo.managed:
                    raise Conflict(
                        f"cargo {cargo_id} belongs to sandbox {cargo.managed_by_sandbox_id}; "
                        "attach only external cargos (created on their own)"
                    )
                sandbox.cargo_id = cargo.id
            else:
                created_cargo = await self._cargos.create(
                    db,
                    owner=owner,
                    managed_by_sandbox_id=sandbox.id,
                    size_limit_mb=chosen.cargo_size_limit_mb,
                )
                sandbox.cargo_id = created_cargo.id
            db.add(sandbox)
            try:
                await db.commit()
            except BaseException:
                if created_cargo is not None:
                    await self._cargos.discard(created_cargo)
                raise
        return sandbox

    async def _claim_pooled(
        self, owner: str, profile: Profile, expires_at: datetime | None
    ) -> Sandbox | None:
        """Hand the oldest ready pool member of `profile` to `owner`, or None.

        The member is picked by a read, then taken by an update conditioned on it still
        being the pool's: of two claims (in this process or another on the same
        database) that picked the same one, one update matches and the other picks again.
        """
        for _ in range(_CLAIM_ATTEMPTS):
            async with self._db.session() as db:
                member = (await db.exec(_READY_POOL_MEMBER, params={"profile": profile.id})).first()
                if member is None:
                    return None
                now = utcnow()
                taken = await db.exec(
                    update(Sandbox)
                    .where(col(Sandbox.id) == member, col(Sandbox.owner) == POOL_OWNER)
                    .values(
                        owner=owner,
                        expires_at=expires_at,
                        created_at=now,
                        updated_at=now,
                        last_active_at=now,
                        version=col(Sandbox.version) + 1,
                    )
                )
                if taken.rowcount != 1:
                    await db.rollback()
                    continue
                await db.exec(
                    update(Cargo)
                    .where(col(Cargo.managed_by_sandbox_id) == member)
                    .values(owner=owner, updated_at=now)
                )
                await db.commit()
                claimed = await db.get(Sandbox, member)
            return claimed
        return None

    async def pool_members(self) -> list[tuple[Sandbox, Session | None]]:
        """Every live warm pool member with its latest session."""
        query = _with_latest_session(utcnow()).where(col(Sandbox.owner) == POOL_OWNER)
        async with self._db.session() as db:
            rows = (await db.exec(query)).all()
        return [(sandbox, session) for sandbox, session, _ in rows]

    async def _check_quota(self, owner: str) -> None:
        async with self._db.session() as db:
            live = col(Sandbox.deleted_at).is_(None)
            mine = (await db.exec(select(func.count()).where(live, Sandbox.owner == owner))).one()
            total = (
                await db.exec(select(func.count()).where(live, Sandbox.owner != POOL_OWNER))
            ).one()
        if mine >= self._settings.max_sandboxes_per_owner:
            raise QuotaExceeded(
                f"owner {owner} has {mine} sandboxes, the most allowed "
                f"({self._settings.max_sandboxes_per_owner}): delete some first",
                {"limit": self._settings.max_sandboxes_per_owner, "scope": "owner"},
            )
        if total >= self._settings.max_sandboxes_total:
            raise QuotaExceeded(
                f"this server runs {total} sandboxes, the most allowed "
                f"({self._settings.max_sandboxes_total}); try again later",
                {"limit": self._settings.max_sandboxes_total, "scope": "total"},
            )

    async def get(self, owner: str, sandbox_id: str) -> SandboxView:
        return await self._one(await self._row(owner, sandbox_id), with_containers=True)

    async def list(
        self, owner: str, status: SandboxStatus | None = None, page: PageRequest | None = None
    ) -> Page[SandboxView]:
        """The owner's live sandboxes, oldest first; one query, paged in it."""
        now = utcnow()
        query = _with_latest_session(now).where(col(Sandbox.owner) == owner)
        if status is not None:
            query = query.where(status_of(now) == status)
        query = paged(query, col(Sandbox.created_at), col(Sandbox.id), page)
        async with self._db.session() as db:
            rows = list((await db.exec(query)).all())
        kept, next_cursor = cut(rows, page, lambda row: (row[0].created_at, row[0].id))
        return Page(
            items=[self._view(sandbox, session, state) for sandbox, session, state in kept],
            next_cursor=next_cursor,
        )

    async def count_by_status(self) -> dict[str, int]:
        """Live sandboxes of every owner, by status (for the metrics)."""
        now = utcnow()
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

    async def stop(self, owner: str, sandbox_id: str) -> None:
        """Destroy the sandbox's session; files are kept. Idempotent."""
        sandbox = await self._row(owner, sandbox_id)
        await self._sessions.stop(sandbox.id)
        log.info("owner %s stopped sandbox %s", owner, sandbox_id)

    async def delete(self, owner: str, sandbox_id: str) -> None:
        """Destroy sessions, delete managed cargo, leave a tombstone. A second delete: 404."""
        sandbox = await self._row(owner, sandbox_id)
        await self.remove(sandbox)
        log.info("owner %s deleted sandbox %s", owner, sandbox_id)

    async def check_owner(self, owner: str, sandbox_id: str) -> None:
        """NotFound unless `sandbox_id` is a live sandbox of `owner`."""
        await self._row(owner, sandbox_id)

    async def for_copy(self, owner: str, sandbox_id: str) -> tuple[Sandbox, Cargo, Profile]:
        """The caller's live, unexpired sandbox with its cargo and profile, for a copy of
        its workspace (read under the gate). NotFound, SandboxExpired."""
        sandbox, cargo, _ = await self._row_for_a_call(owner, sandbox_id)
        self._check_unexpired(sandbox)
        if cargo is None:
            raise NotFound(f"the cargo {sandbox.cargo_id} of sandbox {sandbox_id} is gone")
        return sandbox, cargo, self._profile(sandbox.profile)

    async def view(self, sandbox: Sandbox) -> SandboxView:
        return await self._one(sandbox)

    @staticmethod
    def _check_unexpired(sandbox: Sandbox) -> None:
        if sandbox.expires_at is not None and sandbox.expires_at <= utcnow():
            raise SandboxExpired(
                f"sandbox {sandbox.id} expired at {sandbox.expires_at.isoformat()}; "
                "create a new one with create_sandbox"
            )

    async def remove(self, sandbox: Sandbox) -> None:
        """What delete does, for any live sandbox (the reaper's expired ones too); its
        execution history and its snapshots go with it. Waits for a copy of its
        workspace under way (never for calls)."""
        async with self._gate.shared(sandbox.id, ahead_of_waiting_copies=True):
            await self._remove(sandbox)

    async def _remove(self, sandbox: Sandbox) -> None:
        await self._sessions.stop(sandbox.id)
        async with self._db.session() as db:
            row = await db.get(Sandbox, sandbox.id)
            if row is None or row.deleted_at is not None:
                return
            row.deleted_at = utcnow()
            row.version += 1
            db.add(row)
            cargo = await db.get(Cargo, sandbox.cargo_id)
            if cargo is not None and cargo.managed:
                await self._cargos.discard(cargo)
                await db.delete(cargo)
            await db.exec(delete(Execution).where(col(Execution.sandbox_id) == sandbox.id))
            snapshots = await db.exec(select(Snapshot).where(Snapshot.sandbox_id == sandbox.id))
            for snapshot in snapshots.all():
                await self._cargos.remove_volume(snapshot.driver_ref)
                await db.delete(snapshot)
            await db.commit()

    async def extend_ttl(self, owner: str, sandbox_id: str, seconds: int) -> SandboxView:
        """New expiry = max(old, now) + seconds. No resurrection of an expired sandbox."""
        if not 0 < seconds <= MAX_TTL_SECONDS:
            raise ValidationFailed(
                f"seconds must be between 1 and {MAX_TTL_SECONDS}", {"fields": ["seconds"]}
            )
        sandbox = await self._row(owner, sandbox_id)
        now = utcnow()
        if sandbox.expires_at is None:
            raise SandboxTtlInfinite(f"sandbox {sandbox_id} has no TTL: it lives until deleted")
        if sandbox.expires_at <= now:
            raise SandboxExpired(
                f"sandbox {sandbox_id} expired at {sandbox.expires_at.isoformat()}; "
                "create a new one"
            )
        async with self._db.session() as db:
            row = await db.get(Sandbox, sandbox.id)
            assert row is not None
            assert row.expires_at is not None
            row.expires_at = max(row.expires_at, now) + timedelta(seconds=seconds)
            row.version += 1
            row.updated_at = now
            db.add(row)
            await db.commit()
        return await self._one(row)

    async def keepalive(self, owner: str, sandbox_id: str) -> None:
        """Reset the idle timer; never starts a session."""
        sandbox = await self._row(owner, sandbox_id)
        self._activity.touch(sandbox.id)

    async def upload_limit_bytes(self, owner: str, sandbox_id: str) -> int | None:
        """The largest upload the sandbox takes: its profile's max_upload_mb, else its
        cargo's size limit; None when neither is set."""
        sandbox = await self._row(owner, sandbox_id)
        profile = self._profile(sandbox.profile)
        if profile.max_upload_mb is not None:
            return profile.max_upload_mb * MB
        async with self._db.session() as db:
            cargo = await db.get(Cargo, sandbox.cargo_id)
        if cargo is None or cargo.size_limit_mb is None:
            return None
        return cargo.size_limit_mb * MB

    # -- the gate for capability calls ----------------------------------------------

    @asynccontextmanager
    async def runtime(
        self, owner: str, sandbox_id: str, capability: Capability, progress: Progress
    ) -> AsyncIterator[ShipEndpoint]:
        """Check owner, expiry and capability; start the session if needed; hold it
        (the reaper leaves it alone) while the caller uses the endpoint. The call holds
        the sandbox's gate shared (managers/gate.py): it waits for a copy of the
        workspace under way, and a copy waits for it."""
        async with self._gate.shared(sandbox_id, progress):
            sandbox, cargo, session = await self._row_for_a_call(owner, sandbox_id)
            self._check_unexpired(sandbox)
            profile = self._profile(sandbox.profile)
            if capability not in profile.capabilities:
                raise CapabilityNotSupported(
                    f"sandbox {sandbox_id} (profile {profile.id}) has no {capability} "
                    f"capability; it offers {list(profile.capabilities)}",
                    {"capability": capability, "available": list(profile.capabilities)},
                )
            if cargo is None:
                raise NotFound(f"the cargo {sandbox.cargo_id} of sandbox {sandbox_id} is gone")
            async with self._sessions.using(sandbox.id):
                with about(sandbox_var, sandbox.id):  # log lines of this call name the sandbox
                    self._activity.touch(sandbox.id)
                    yield await self._sessions.ensure_running(
                        StartContext(
                            sandbox=sandbox,
                            profile=profile,
                            volume=cargo.driver_ref,
                            size_limit_mb=cargo.size_limit_mb,
                        ),
                        progress,
                        known=session,
                    )
                    self._activity.touch(sandbox.id)  # the idle timer counts from a call's end
