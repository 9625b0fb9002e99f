"""A sandbox's life: creating it (from the warm pool when one waits), forking it,
quotas, TTLs and the idle timer, stopping it, and deleting it with all it holds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bay_mcp.environment import check_env
from bay_mcp.errors import (
    BayError,
    Conflict,
    NotFound,
    QuotaExceeded,
    SandboxExpired,
    SandboxTtlInfinite,
    ValidationFailed,
)
from bay_mcp.limits import DEFAULT_PROFILE, MAX_TTL_SECONDS, POOL_OWNER
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.managers.cargos import CargoManager
from bay_mcp.managers.gate import SandboxGate
from bay_mcp.managers.sessions import SessionManager
from bay_mcp.metrics import Metrics
from bay_mcp.services.egress import EgressService
from bay_mcp.services.sandbox_catalogue import SandboxCatalogue
from bay_mcp.services.sandbox_inputs import SecretBinding
from bay_mcp.services.views import SandboxView
from bay_mcp.settings import BaySettings, Profile
from bay_mcp.storage.cargos import CargoRepository
from bay_mcp.storage.models import Cargo, Sandbox, new_id, utcnow
from bay_mcp.storage.sandboxes import SandboxRepository
from ship.egress.rules import EgressPolicy

log = logging.getLogger(__name__)

# How long Bay's stop waits for claimed members' Ships to hear that they were claimed.
WATCH_END_WAIT_S = 5.0


class SandboxLifecycle:
    def __init__(
        self,
        catalogue: SandboxCatalogue,
        sandboxes: SandboxRepository,
        cargos: CargoRepository,
        settings: BaySettings,
        sessions: SessionManager,
        cargo_manager: CargoManager,
        activity: ActivityClock,
        metrics: Metrics,
        gate: SandboxGate,
        egress: EgressService,
    ) -> None:
        self._egress = egress
        self._catalogue = catalogue
        self._rows = sandboxes
        self._cargo_rows = cargos
        self._settings = settings
        self._sessions = sessions
        self._cargos = cargo_manager
        self._activity = activity
        self._metrics = metrics
        self._gate = gate
        # Set by every claim (hit or miss): the warm pool's refill waits on it.
        self.pool_drained = asyncio.Event()
        # Claimed members whose Ship is being told so, behind the creates that claimed them.
        self._watch_ends: set[asyncio.Task[None]] = set()

    # -- creation -------------------------------------------------------------------

    async def create(
        self,
        owner: str,
        *,
        profile: str = DEFAULT_PROFILE,
        ttl_seconds: int | None = None,
        cargo_id: str | None = None,
        env: dict[str, str] | None = None,
        egress: EgressPolicy | None = None,
        secrets: Sequence[SecretBinding] = (),
    ) -> SandboxView:
        """A new sandbox: a warm pool member when the profile keeps a pool and nothing
        asks for a different one (an external cargo, its own environment or egress),
        else rows and (for managed cargo) a volume, with no container started yet.
        `env` (over the profile's) reaches every process of every session; `egress`
        narrows the profile's policy; `secrets` bind stored secrets to hosts."""
        chosen = self._catalogue.profile(profile)
        check_env(env or {})
        own_egress, bindings = await self._egress.check_create(owner, chosen, egress, secrets)
        if ttl_seconds is not None and not 0 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ValidationFailed(
                f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}, or 0/null for no TTL",
                {"fields": ["ttl_seconds"]},
            )
        await self._check_quota(owner)
        now = utcnow()
        expires_at = now + timedelta(seconds=ttl_seconds) if ttl_seconds else None
        if chosen.pool_size and cargo_id is None and not env and egress is None and not secrets:
            claimed = await self._rows.claim_pool_member(chosen.id, owner, expires_at)
            self._metrics.pool_claims.labels(
                profile=chosen.id, outcome="hit" if claimed else "miss"
            ).inc()
            self.pool_drained.set()
            if claimed is not None:
                member = claimed[0]
                self._end_orphan_watch_soon(member.id)
                log.info(
                    "owner %s created sandbox %s (profile %s) from the warm pool",
                    owner,
                    member.id,
                    chosen.id,
                )
                return self._catalogue.view_of(claimed)
        sandbox = await self._create_rows(
            owner, chosen, expires_at, cargo_id, env or {}, own_egress, bindings
        )
        log.info("owner %s created sandbox %s (profile %s)", owner, sandbox.id, chosen.id)
        return await self._catalogue.view(sandbox)

    async def pool_heartbeat(self, sandbox_id: str) -> None:
        """Tell an unclaimed pool member that its Bay is there."""
        await self._sessions.pool_heartbeat(sandbox_id, claimed=False)

    def _end_orphan_watch_soon(self, sandbox_id: str) -> None:
        """A claimed member is an owner's sandbox now: its Ship must not stop itself
        for want of pool checks (orphan_watch.py). Told behind the create (a call to
        Ship its caller need not wait for); `settle` waits for those under way."""
        task = asyncio.create_task(
            self._end_orphan_watch(sandbox_id), name=f"end-orphan-watch-{sandbox_id}"
        )
        self._watch_ends.add(task)
        task.add_done_callback(self._watch_ends.discard)

    async def _end_orphan_watch(self, sandbox_id: str) -> None:
        # Should Ship not hear it, the sandbox still works: it stops after the
        # profile's orphan time, and its next call starts it again (the cargo kept).
        try:
            await self._sessions.pool_heartbeat(sandbox_id, claimed=True)
        except BayError as exc:
            log.warning("sandbox %s: its pool watch could not be ended: %s", sandbox_id, exc)
        except Exception:  # a task of its own: nobody above it to tell
            log.exception("sandbox %s: its pool watch could not be ended", sandbox_id)

    async def settle(self, timeout: float = WATCH_END_WAIT_S) -> None:
        """Wait for the pool watches being ended, at most `timeout` seconds; those
        still under way then are cancelled (their members stop after their orphan
        time, and start again on their next call)."""
        pending = set(self._watch_ends)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            log.warning("%s: no answer from Ship in %g s, given up", task.get_name(), timeout)
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def create_fork(self, source: Sandbox) -> Sandbox:
        """A new sandbox like `source` (owner, profile, environment, expiry) with a new,
        empty managed cargo: never a pool member. QuotaExceeded as create."""
        await self._check_quota(source.owner)
        sandbox = await self._create_rows(
            source.owner,
            self._catalogue.profile(source.profile),
            source.expires_at,
            None,
            source.env,
            source.egress,
            source.secret_bindings,
        )
        log.info("owner %s forked sandbox %s as %s", source.owner, source.id, sandbox.id)
        return sandbox

    async def create_pool_member(self, profile: Profile) -> Sandbox:
        """A sandbox for the warm pool: no owner's, no quota's, no TTL."""
        return await self._create_rows(POOL_OWNER, profile, None, None, {})

    async def retire_pool_member(self, sandbox: Sandbox) -> bool:
        """Remove an unclaimed pool member (the pool shrinking as demand falls); False,
        and nothing removed, when a create claimed it meanwhile."""
        if not await self._rows.retire_pool_member(sandbox.id, utcnow()):
            return False
        await self.remove(sandbox)
        return True

    async def _create_rows(
        self,
        owner: str,
        chosen: Profile,
        expires_at: datetime | None,
        cargo_id: str | None,
        env: dict[str, str],
        egress: dict[str, Any] | None = None,
        secret_bindings: list[dict[str, Any]] | None = None,
    ) -> Sandbox:
        now = utcnow()
        sandbox = Sandbox(
            id=new_id("sandbox"),
            owner=owner,
            profile=chosen.id,
            cargo_id="",
            expires_at=expires_at,
            env=dict(env),
            egress=egress,
            secret_bindings=list(secret_bindings or []),
            created_at=now,
            updated_at=now,
            last_active_at=now,
        )
        if cargo_id is not None:
            cargo = await self._cargo_rows.get(cargo_id)
            if cargo is None or cargo.owner != owner:
                raise NotFound(f"cargo {cargo_id} not found")
            if cargo.managed:
                raise Conflict(
                    f"cargo {cargo_id} belongs to sandbox {cargo.managed_by_sandbox_id}; "
                    "attach only external cargos (created on their own)"
                )
            sandbox.cargo_id = cargo.id
            await self._rows.insert(sandbox)
            return sandbox
        created_cargo: Cargo = await self._cargos.create(
            owner=owner, managed_by_sandbox_id=sandbox.id, size_limit_mb=chosen.cargo_size_limit_mb
        )
        sandbox.cargo_id = created_cargo.id
        try:
            await self._rows.insert(sandbox, created_cargo)
        except BaseException:
            await self._cargos.discard(created_cargo)
            raise
        return sandbox

    async def _check_quota(self, owner: str) -> None:
        mine, total = await self._rows.live_counts(owner)
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

    # -- stop and delete ------------------------------------------------------------

    async def stop(self, owner: str, sandbox_id: str) -> None:
        """Destroy the sandbox's session; files are kept. Idempotent."""
        sandbox = await self._catalogue.row(owner, sandbox_id)
        await self._sessions.stop(sandbox.id)
        log.info("owner %s stopped sandbox %s", owner, sandbox_id)

    async def delete(self, owner: str, sandbox_id: str) -> None:
        """Destroy sessions, delete managed cargo, leave a tombstone. A second delete: 404."""
        sandbox = await self._catalogue.row(owner, sandbox_id)
        await self.remove(sandbox)
        log.info("owner %s deleted sandbox %s", owner, sandbox_id)

    async def remove(self, sandbox: Sandbox) -> None:
        """What delete does, for any live sandbox (the reaper's expired ones too); its
        execution history and its snapshots go with it. Waits for a copy of its
        workspace under way (never for calls)."""
        async with self._gate.shared(sandbox.id, ahead_of_waiting_copies=True):
            await self._sessions.stop(sandbox.id)
            await self._rows.tombstone(sandbox.id, utcnow(), self._cargos.remove_volume)

    # -- time -----------------------------------------------------------------------

    async def extend_ttl(self, owner: str, sandbox_id: str, seconds: int) -> SandboxView:
        """New expiry = max(old, now) + seconds. No resurrection of an expired sandbox."""
        if not 0 < seconds <= MAX_TTL_SECONDS:
            raise ValidationFailed(
                f"seconds must be between 1 and {MAX_TTL_SECONDS}", {"fields": ["seconds"]}
            )
        sandbox = await self._catalogue.row(owner, sandbox_id)
        now = utcnow()
        if sandbox.expires_at is None:
            raise SandboxTtlInfinite(f"sandbox {sandbox_id} has no TTL: it lives until deleted")
        if sandbox.expires_at <= now:
            raise SandboxExpired(
                f"sandbox {sandbox_id} expired at {sandbox.expires_at.isoformat()}; "
                "create a new one"
            )
        row = await self._rows.extend_expiry(sandbox.id, seconds, now)
        return await self._catalogue.view(row)

    async def keepalive(self, owner: str, sandbox_id: str) -> None:
        """Reset the idle timer; never starts a session."""
        sandbox = await self._catalogue.row(owner, sandbox_id)
        self._activity.touch(sandbox.id)
