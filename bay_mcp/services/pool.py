"""The warm pool: per profile, ready sandboxes (container running, kernel warm, their
own cargo) waiting for `create_sandbox` to claim one (`SandboxLifecycle.create` does the
claiming; this module keeps the pool full).

One task refills in the background, one member at a time, so a call never waits for
it; every claim wakes it, and it looks again every `pool_check_interval_seconds`.
Members belong to `POOL_OWNER`: no owner sees them and no quota counts them. A member
is replaced when it is older than `pool_max_age_seconds`, when its profile's image now
names another image, or when its session is gone or failed (after a crash, reconcile
drops the sessions whose container died; the next check removes those members).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from bay_mcp.adapters.ship_client import ShipClient
from bay_mcp.drivers import Driver
from bay_mcp.errors import BayError
from bay_mcp.limits import POOL_OWNER
from bay_mcp.managers import no_progress
from bay_mcp.metrics import Metrics
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.views import PoolReport
from bay_mcp.settings import BaySettings, Profile
from bay_mcp.storage.leases import Leases
from bay_mcp.storage.models import Sandbox, Session, utcnow

log = logging.getLogger(__name__)

POOL_LEASE = "warm-pool-refill"
# Long enough for a member's start; a refill renews it before each member.
LEASE_TTL = timedelta(minutes=2)

# The member's first exec: it makes the kernel import what a first user exec would.
_WARM_UP = "pass"


@dataclass
class PoolState:
    """One profile's pool as last seen: for /health and the metrics."""

    target: int
    ready: int = 0
    starting: int = 0
    last_error: str | None = None


@dataclass
class _Members:
    ready: list[Sandbox] = field(default_factory=list)
    starting: list[Sandbox] = field(default_factory=list)
    stale: list[tuple[Sandbox, str]] = field(default_factory=list)


class WarmPool:
    def __init__(
        self,
        settings: BaySettings,
        sandboxes: SandboxService,
        driver: Driver,
        ship: ShipClient,
        metrics: Metrics,
        leases: Leases,
    ) -> None:
        self._leases = leases
        self._settings = settings
        self._sandboxes = sandboxes
        self._driver = driver
        self._ship = ship
        self._metrics = metrics
        self.state = {
            profile.id: PoolState(target=profile.pool_size)
            for profile in settings.profiles
            if profile.pool_size
        }
        self._task: asyncio.Task[None] | None = None
        self._started_here: set[str] = set()
        # A Bay that stops before it started (a refused setting) has no database to read.
        self._started = False
        # Set after each refill pass: what waits for the pool to settle waits on it.
        self.refilled = asyncio.Event()

    def report(self) -> dict[str, PoolReport]:
        """Each pool as last seen, with its claims since this Bay started."""
        claims = self._metrics.pool_claim_count
        return {
            profile_id: PoolReport(
                target=state.target,
                ready=state.ready,
                starting=state.starting,
                hits=claims(profile_id, "hit"),
                misses=claims(profile_id, "miss"),
                last_error=state.last_error,
            )
            for profile_id, state in self.state.items()
        }

    def start(self) -> None:
        self._started = True
        if self.state:
            self._task = asyncio.create_task(self._run(), name="warm-pool")

    async def stop(self) -> None:
        """Stop refilling, and remove the unclaimed members no live Bay serves: those
        this process started, and those whose starter is gone (adopted after a Bay was
        killed, whose members this one counted as its own and never replaced). A Bay
        that stops (a host closing its stdio server) leaves no container running for a
        pool nobody serves; a replica's members stay with it. A member half-way through
        its start is removed by the start's own cleanup."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not self._started:
            return
        for sandbox, session in await self._sandboxes.pool_members():
            if await self._unserved(sandbox, session):
                try:
                    await self._sandboxes.remove(sandbox)
                except Exception:
                    log.warning("warm pool: could not remove %s", sandbox.id, exc_info=True)

    async def _unserved(self, sandbox: Sandbox, session: Session | None) -> bool:
        if sandbox.id in self._started_here:
            return True
        starter = session.starter if session is not None else None
        # A killed Bay's process lease lapses PROCESS_TTL after its last renewal.
        return starter is None or not await self._leases.alive(starter)

    async def _run(self) -> None:
        drained = self._sandboxes.pool_drained
        while True:
            drained.clear()
            await self.refill()
            self.refilled.set()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns when the event
            # is set as the task is cancelled, and the pool would outlive Bay's stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.pool_check_interval_seconds):
                    await drained.wait()

    async def refill(self) -> None:
        """Remove stale members, then start new ones until every pool is full.

        Bay processes sharing a database refill one at a time (a lease): two that
        counted the same shortfall would each fill it. The others skip the pass."""
        if not await self._leases.acquire(POOL_LEASE, LEASE_TTL):
            return
        try:
            await self._refill_all()
        finally:
            await self._leases.release(POOL_LEASE)

    async def _refill_all(self) -> None:
        for profile in self._settings.profiles:
            if not profile.pool_size:
                continue
            state = self.state[profile.id]
            try:
                await self._refill(profile, state)
                state.last_error = None
            except BayError as exc:
                state.last_error = exc.message
                log.warning("warm pool %s: could not refill: %s", profile.id, exc.message)
            except Exception as exc:  # the loop must live on: the next check retries
                state.last_error = repr(exc)
                log.exception("warm pool %s: refill failed", profile.id)

    async def _refill(self, profile: Profile, state: PoolState) -> None:
        members = await self._members(profile)
        for sandbox, reason in members.stale:
            log.info("warm pool %s: replacing %s (%s)", profile.id, sandbox.id, reason)
            await self._sandboxes.remove(sandbox)
        state.ready, state.starting = len(members.ready), len(members.starting)
        self._publish(profile.id, state)
        while state.ready + state.starting < profile.pool_size:
            state.starting += 1
            self._publish(profile.id, state)
            try:
                await self._leases.acquire(POOL_LEASE, LEASE_TTL)  # renewed per member
                await self._add(profile)
            finally:
                state.starting -= 1
            state.ready += 1
            self._publish(profile.id, state)

    async def _members(self, profile: Profile) -> _Members:
        found = _Members()
        image = await self._driver.image_id(profile.image)
        now = utcnow()
        oldest = now - timedelta(seconds=self._settings.pool_max_age_seconds)
        # A start older than this will not finish: the process that made it is gone.
        abandoned = now - timedelta(seconds=self._settings.start_timeout_seconds + 5)
        for sandbox, session in await self._sandboxes.pool_members():
            if sandbox.profile != profile.id:
                continue
            if sandbox.created_at < oldest:
                found.stale.append((sandbox, "older than pool_max_age_seconds"))
            elif session is None or session.observed_state == "starting":
                # Refills here are sequential: a start in progress is another Bay's.
                born = sandbox.created_at if session is None else session.created_at
                if born < abandoned:
                    found.stale.append((sandbox, "its start was abandoned"))
                else:
                    found.starting.append(sandbox)
            elif session.observed_state != "ready":
                found.stale.append((sandbox, f"its session is {session.observed_state}"))
            elif reason := await self._container_problem(session, image):
                found.stale.append((sandbox, reason))
            else:
                await self._heartbeat(sandbox)
                found.ready.append(sandbox)
        return found

    async def _heartbeat(self, sandbox: Sandbox) -> None:
        """Tell the member this Bay is there: without it, it stops itself after the
        profile's pool_orphan_after_seconds (orphan_watch.py)."""
        try:
            await self._sandboxes.pool_heartbeat(sandbox.id)
        except BayError as exc:
            log.warning("warm pool: %s did not take its heartbeat: %s", sandbox.id, exc)

    async def _container_problem(self, session: Session, image: str | None) -> str | None:
        if session.container_id is None:
            return "it has no container"
        info = await self._driver.inspect(session.container_id)
        if info.state != "running":
            return f"its container is {info.state}"
        if image is not None and info.image_id is not None and info.image_id != image:
            return "its profile's image was rebuilt"
        return None

    async def _add(self, profile: Profile) -> None:
        """Create one member and bring it to ready with a warm kernel."""
        sandbox = await self._sandboxes.create_pool_member(profile)
        self._started_here.add(sandbox.id)
        try:
            async with self._sandboxes.runtime(
                POOL_OWNER, sandbox.id, "python", no_progress
            ) as endpoint:
                await self._ship.python_exec(endpoint, _WARM_UP, 60)
        except BaseException:
            # What ended the start goes on up (a cancellation above all: Bay stopping,
            # whose pool task must end), whatever the clean-up meets; a member it could
            # not remove is the next refill's or the reaper's.
            try:
                await asyncio.shield(self._sandboxes.remove(sandbox))
            except Exception:
                log.warning(
                    "warm pool %s: could not remove %s", profile.id, sandbox.id, exc_info=True
                )
            raise
        log.info("warm pool %s: %s is ready", profile.id, sandbox.id)

    def _publish(self, profile_id: str, state: PoolState) -> None:
        self._metrics.pool_members.labels(profile=profile_id, state="ready").set(state.ready)
        self._metrics.pool_members.labels(profile=profile_id, state="starting").set(state.starting)
