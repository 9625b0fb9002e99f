"""The warm pool: per profile, ready sandboxes (container running, kernel warm, their
own cargo) waiting for `create_sandbox` to claim one (`SandboxLifecycle.create` does the
claiming; this module keeps the pool full).

How many members a pool holds (its target) follows demand (`pool_target`):

    target = clamp(claim rate x lead time, warm_pool_size, warm_pool_max_size),
             and never more members than the host's memory allows

The claim rate is the creates that asked this pool (hits and misses) over the last
`pool_demand_window_seconds`; the lead time is how long one refill takes (a member's
start and warm-up, the last few averaged). A steady stream of creates thus finds
members ready, since the pool holds what is claimed while it refills. Memory: each
member counts at its profile's `memory_mb` against the host's available memory, less
a margin; the floor is kept whatever memory says (it is what the operator asked for).
When demand falls, the rate falls as claims leave the window, and the members above
the target are retired, newest first, back to the floor.

One task refills in the background, so a call never waits for it: several members at
once when the pool is behind (at most `max_concurrent_starts`; their starts queue
behind users' starts, which go first). Every claim wakes it, and it looks again every
`pool_check_interval_seconds`. A claim's pass reads the database only (it counts the
members and starts what is missing); the checks that ask Docker and each member's
Ship (its container, its image, the heartbeat) run at the interval: on a claim's path
they slowed the creates and calls that overlapped them (an MCP create 5 ms alone,
14 ms beside them). Members belong to `POOL_OWNER`: no owner sees them and
no quota counts them. A member is replaced when it is older than
`pool_max_age_seconds`, when its profile's image now names another image, or when its
session is gone or failed (after a crash, reconcile drops the sessions whose container
died; the next check removes those members).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

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
# Memory the pool leaves to everything else when it grows past its floor.
MEMORY_MARGIN_MB = 2048
# A refill's lead time until one was measured (a warm start and its first exec), and
# the weight of the newest refill in the running average.
_FIRST_LEAD_S = 2.0
_LEAD_WEIGHT = 0.3
_MEMINFO = Path("/proc/meminfo")


def pool_target(
    *,
    claims_per_second: float,
    lead_seconds: float,
    floor: int,
    ceiling: int,
    memory_fits: int | None,
) -> int:
    """How many members a pool should hold (the rule is the module's docstring's).

    `memory_fits`: how many members the host's memory allows in all, the present ones
    included; None when it is not known (no ceiling but the setting's)."""
    wanted = math.ceil(claims_per_second * lead_seconds)
    if memory_fits is not None:
        wanted = min(wanted, memory_fits)
    return max(floor, min(wanted, ceiling))


class ClaimRate:
    """Claims per second over the last `window` seconds, from a running claim count
    read now and then (at each refill pass: every claim wakes one)."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def observe(self, now: float, claims: int) -> float:
        samples = self._samples
        samples.append((now, claims))
        # Keep the last reading from before the window: the claims since it count.
        while len(samples) > 1 and samples[1][0] <= now - self._window:
            samples.popleft()
        return (claims - samples[0][1]) / self._window


def available_memory_mb() -> int | None:
    """The host's available memory (MemAvailable), None where /proc does not say."""
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None  # not Linux, or a /proc we cannot read: the setting alone bounds it
    return None


def members_memory_allows(memory_mb: int, present: int, available_mb: int | None) -> int | None:
    """The members memory allows in all: those present (their memory is already taken)
    plus as many more of `memory_mb` as fit in what is available, less the margin."""
    if available_mb is None:
        return None
    return present + max(0, available_mb - MEMORY_MARGIN_MB) // memory_mb


@dataclass
class PoolState:
    """One profile's pool as last seen: for /health and the metrics. `target` is what
    the pool sizes itself to now (`pool_target`)."""

    target: int
    ready: int = 0
    starting: int = 0
    last_error: str | None = None
    # How long a refill takes (seconds, a running average): the rule's lead time.
    lead_seconds: float = _FIRST_LEAD_S


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
        self._rates = {
            profile_id: ClaimRate(settings.pool_demand_window_seconds) for profile_id in self.state
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
        checked_at = -math.inf
        while True:
            drained.clear()
            now = time.monotonic()
            check = now - checked_at >= self._settings.pool_check_interval_seconds
            if check:
                checked_at = now
            await self.refill(check=check)
            self.refilled.set()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns when the event
            # is set as the task is cancelled, and the pool would outlive Bay's stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.pool_check_interval_seconds):
                    await drained.wait()

    async def refill(self, *, check: bool = True) -> None:
        """Remove stale members, then start new ones until every pool is full; `check`:
        also ask Docker and each member's Ship whether it is sound (and tell it that
        its Bay is there), else judge by the database alone.

        Bay processes sharing a database refill one at a time (a lease): two that
        counted the same shortfall would each fill it. The others skip the pass."""
        if not await self._leases.acquire(POOL_LEASE, LEASE_TTL):
            return
        try:
            await self._refill_all(check)
        finally:
            await self._leases.release(POOL_LEASE)

    async def _refill_all(self, check: bool) -> None:
        for profile in self._settings.profiles:
            if not profile.pool_size:
                continue
            state = self.state[profile.id]
            try:
                await self._refill(profile, state, check)
                state.last_error = None
            except BayError as exc:
                state.last_error = exc.message
                log.warning("warm pool %s: could not refill: %s", profile.id, exc.message)
            except Exception as exc:  # the loop must live on: the next check retries
                state.last_error = repr(exc)
                log.exception("warm pool %s: refill failed", profile.id)

    async def _refill(self, profile: Profile, state: PoolState, check: bool) -> None:
        members = await self._members(profile, check)
        for sandbox, reason in members.stale:
            log.info("warm pool %s: replacing %s (%s)", profile.id, sandbox.id, reason)
            await self._sandboxes.remove(sandbox)
        present = len(members.ready) + len(members.starting)
        state.target = self._target(profile, state, present)
        state.ready, state.starting = len(members.ready), len(members.starting)
        self._publish(profile.id, state)
        # Demand fell: retire the newest (claims take the oldest, so a claim racing
        # this is least likely to want the same one; the retirement is conditioned).
        surplus = sorted(members.ready, key=lambda member: member.created_at, reverse=True)
        for sandbox in surplus[: max(0, present - state.target)]:
            if await self._sandboxes.retire_pool_member(sandbox):
                log.info("warm pool %s: retired %s (demand fell)", profile.id, sandbox.id)
                state.ready -= 1
        self._publish(profile.id, state)
        while (shortfall := state.target - state.ready - state.starting) > 0:
            batch = min(shortfall, self._settings.max_concurrent_starts)
            await self._leases.acquire(POOL_LEASE, LEASE_TTL)  # renewed per batch
            state.starting += batch
            self._publish(profile.id, state)
            results = await asyncio.gather(
                *(self._add(profile, state) for _ in range(batch)), return_exceptions=True
            )
            state.starting -= batch
            state.ready += sum(1 for result in results if result is None)
            self._publish(profile.id, state)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    def _target(self, profile: Profile, state: PoolState, present: int) -> int:
        claims = self._metrics.pool_claim_count
        rate = self._rates[profile.id].observe(
            time.monotonic(), claims(profile.id, "hit") + claims(profile.id, "miss")
        )
        return pool_target(
            claims_per_second=rate,
            lead_seconds=state.lead_seconds,
            floor=profile.pool_size,
            ceiling=profile.pool_max_size,
            memory_fits=members_memory_allows(profile.memory_mb, present, available_memory_mb()),
        )

    async def _members(self, profile: Profile, check: bool) -> _Members:
        found = _Members()
        image = await self._driver.image_id(profile.image) if check else None
        now = utcnow()
        oldest = now - timedelta(seconds=self._settings.pool_max_age_seconds)
        # A start older than this will not finish: the process that made it is gone.
        abandoned = now - timedelta(seconds=self._settings.start_timeout_seconds + 5)
        for sandbox, session in await self._sandboxes.pool_members():
            if sandbox.profile != profile.id:
                continue
            if sandbox.expires_at is not None:
                found.stale.append((sandbox, "retired"))  # its removal did not finish
            elif sandbox.created_at < oldest:
                found.stale.append((sandbox, "older than pool_max_age_seconds"))
            elif session is None or session.observed_state == "starting":
                # A pass waits for its own starts: a start in progress is another Bay's.
                born = sandbox.created_at if session is None else session.created_at
                if born < abandoned:
                    found.stale.append((sandbox, "its start was abandoned"))
                else:
                    found.starting.append(sandbox)
            elif session.observed_state != "ready":
                found.stale.append((sandbox, f"its session is {session.observed_state}"))
            elif not check:
                found.ready.append(sandbox)
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

    async def _add(self, profile: Profile, state: PoolState) -> None:
        """Create one member and bring it to ready with a warm kernel; the time it took
        moves the pool's lead time."""
        started = time.monotonic()
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
        took = time.monotonic() - started
        state.lead_seconds += _LEAD_WEIGHT * (took - state.lead_seconds)
        log.info("warm pool %s: %s is ready in %.2f s", profile.id, sandbox.id, took)

    def _publish(self, profile_id: str, state: PoolState) -> None:
        self._metrics.pool_members.labels(profile=profile_id, state="ready").set(state.ready)
        self._metrics.pool_members.labels(profile=profile_id, state="starting").set(state.starting)
