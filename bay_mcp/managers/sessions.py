"""Sessions: the running container of a sandbox, started lazily by `ensure_running`.

A sandbox whose session the database says is ready gets its endpoint at once, with
no lock and no Docker call: a container that died meanwhile is noticed by the Ship
call that cannot reach it, which then calls the endpoint's `recover` (the checked
path below) and is sent once more. Otherwise `ensure_running` holds a per-sandbox
lock (one start per sandbox in this process) and bumps the sandbox's version in the
database conditioned on the version it read (one start per sandbox across Bay
processes sharing the database: the others wait for that start to finish). A start
that fails at any step, cancellation included, removes its container before the error
surfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from bay_mcp.adapters.ship_client import ShipClient, ShipEndpoint
from bay_mcp.drivers import ContainerSpec, Driver, DriverError
from bay_mcp.errors import BayError, NotFound, SessionNotReady, ShipError, Timeout
from bay_mcp.limits import POOL_OWNER
from bay_mcp.managers import Progress, labels
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.managers.egress_proxy import EgressHook, EgressPlan
from bay_mcp.managers.images import ImageProvider
from bay_mcp.managers.locks import KeyedLocks
from bay_mcp.managers.session_env import ship_env
from bay_mcp.managers.session_states import REPLACED_NOTICE, SessionStates
from bay_mcp.managers.setup import MachineSetup
from bay_mcp.managers.start_queue import StartQueue
from bay_mcp.metrics import Metrics
from bay_mcp.settings import Profile
from bay_mcp.storage.database import Database
from bay_mcp.storage.leases import Leases
from bay_mcp.storage.models import Sandbox, Session, utcnow
from bay_mcp.storage.sandboxes import SandboxRepository
from bay_mcp.storage.sessions import SessionRepository
from ship.protocol import API_VERSION, WORKSPACE_MOUNT

log = logging.getLogger(__name__)

# /health every 20 ms, or a tenth of the start so far: each poll costs the booting Ship,
# Bay and docker-proxy CPU, so a start slowed by load is not slowed further (~10% late).
_HEALTH_POLL_S, _HEALTH_POLL_SHARE = 0.02, 0.1
_STATE_CHECK_EVERY_S = 1.0
# How often a call waiting for another process's start looks at the session row.
_ELSEWHERE_POLL_S = 0.1
# A start older than the start timeout plus this never finishes: its Bay died.
_STALE_GRACE_S = 5.0


class _StartingElsewhere(Exception):
    """Another Bay process sharing the database is starting this sandbox's session."""


@dataclass(frozen=True)
class StartContext:
    """What a start needs beyond the sandbox row: resolved by the service layer."""

    sandbox: Sandbox
    profile: Profile
    volume: str
    # The cargo's size limit, which Ship enforces on writes through its API.
    size_limit_mb: int | None = None


class SessionManager:
    def __init__(
        self,
        db: Database,
        driver: Driver,
        ship: ShipClient,
        images: ImageProvider,
        setup: MachineSetup,
        metrics: Metrics,
        activity: ActivityClock,
        leases: Leases,
        *,
        instance_id: str,
        start_timeout: float,
        max_concurrent_starts: int,
    ) -> None:
        self._starts = StartQueue(max_concurrent_starts)
        self._activity = activity
        self._leases = leases
        self._rows = SessionRepository(db)
        self._sandboxes = SandboxRepository(db)
        self._driver = driver
        self._ship = ship
        self._images = images
        self._setup = setup
        self._metrics = metrics
        self._instance_id = instance_id
        self._start_timeout = start_timeout
        self._lock = KeyedLocks()  # one per sandbox
        self._states = SessionStates(self._rows, self._sandboxes, driver, ship, activity, metrics)
        # Set once the services are built (bay.py): the policy of a session's network.
        self.egress: EgressHook | None = None
        # Calls running on each sandbox's session right now: the reaper leaves those alone.
        self._in_use: Counter[str] = Counter()

    @asynccontextmanager
    async def using(self, sandbox_id: str) -> AsyncIterator[None]:
        """Mark a call as running on the sandbox's session, so it is not reaped under it."""
        self._in_use[sandbox_id] += 1
        try:
            yield
        finally:
            self._in_use[sandbox_id] -= 1
            if self._in_use[sandbox_id] <= 0:
                del self._in_use[sandbox_id]

    def in_use(self, sandbox_id: str) -> bool:
        return self._in_use.get(sandbox_id, 0) > 0

    def looks_idle(self, sandbox: Sandbox, idle_before: datetime) -> bool:
        """Whether no call has used the sandbox since `idle_before` (as its row was read;
        `stop_if_idle` checks again under the lock)."""
        last = self._activity.last_active(sandbox.id, sandbox.last_active_at)
        return not self.in_use(sandbox.id) and last < idle_before

    def busy(self) -> list[str]:
        """The sandboxes with calls running on their session in this process."""
        return list(self._in_use)

    async def current(self, sandbox_id: str) -> Session | None:
        """The sandbox's session row, if it has one (starting, ready or failed)."""
        return await self._rows.latest(sandbox_id)

    async def ensure_running(
        self, start: StartContext, progress: Progress, known: Session | None = None
    ) -> ShipEndpoint:
        """Return the endpoint of the sandbox's ready session, starting one if needed.

        `known` is the sandbox's latest session as the caller just read it: when it is
        ready, its endpoint is returned as it stands (see the module's docstring).
        Raises SessionNotReady (another process is starting it, the image is missing),
        ShipError (the runtime failed its handshake) or Timeout (no answer in time).
        """
        if (
            known is not None
            and known.observed_state == "ready"
            and known.endpoint is not None
            and known.container_id
        ):
            return self._endpoint(known.endpoint, known, start, progress)
        if known is not None and known.observed_state == "paused" and known.endpoint:
            # Thawed in place; a container gone since fails it, and the check below runs.
            with contextlib.suppress(DriverError):
                async with self._lock(start.sandbox.id):
                    await self._states.thaw(known)
                    return self._endpoint(known.endpoint, known, start, progress)
        return await self._ensure_running_checked(start, progress)

    def _endpoint(
        self, url: str, session: Session, start: StartContext, progress: Progress
    ) -> ShipEndpoint:
        async def recover() -> ShipEndpoint:
            log.warning(
                "sandbox %s: its runtime at %s did not answer; checking its container",
                start.sandbox.id,
                url,
            )
            return await self._ensure_running_checked(start, progress)

        return ShipEndpoint(url, session.ship_token, session.id, recover=recover)

    async def _ensure_running_checked(
        self, start: StartContext, progress: Progress
    ) -> ShipEndpoint:
        """Under the sandbox's lock: the latest session if the driver says its container
        runs (a Ship that missed one connection is given the benefit: its kernel holds
        the user's state), else a new session. While another Bay process sharing the
        database starts one, wait for it (polling the row, within the start timeout)
        rather than start a second container or fail the call."""
        sandbox_id = start.sandbox.id
        deadline = time.monotonic() + self._start_timeout + _STALE_GRACE_S
        told = False
        async with self._lock(sandbox_id):
            while True:
                try:
                    return await self._reuse_or_start(start, progress)
                except _StartingElsewhere:
                    if time.monotonic() > deadline:
                        raise SessionNotReady(
                            f"sandbox {sandbox_id} is being started by another Bay process "
                            "that has not finished; retry in a moment",
                            {"retry_after_ms": 1000},
                        ) from None
                    if not told:
                        await progress(
                            f"sandbox {sandbox_id} is being started by another Bay process; "
                            "waiting for it"
                        )
                        told = True
                    await asyncio.sleep(_ELSEWHERE_POLL_S)

    async def _reuse_or_start(self, start: StartContext, progress: Progress) -> ShipEndpoint:
        sandbox_id = start.sandbox.id
        # The version first, then the session: a start claimed by another process
        # in between shows up as a session or as a moved-on version.
        seen_version = await self._version(sandbox_id)
        session = await self.current(sandbox_id)
        if session is not None:
            if session.observed_state in ("ready", "paused") and session.container_id:
                info = await self._driver.inspect(session.container_id)
                if info.state in ("running", "paused") and info.endpoint is not None:
                    if info.state == "paused" or session.observed_state == "paused":
                        await self._states.thaw(session)  # paused when idle: memory kept
                    return self._endpoint(info.endpoint, session, start, progress)
                log.warning(
                    "sandbox %s: container %s is %s; starting a new session",
                    sandbox_id,
                    session.container_id[:12],
                    info.state,
                )
            elif session.observed_state == "unhealthy":
                log.warning(
                    "sandbox %s: session %s stopped answering; starting a new one",
                    sandbox_id,
                    session.id,
                )
                await self._destroy(session)
                started = await self._start(start, progress, seen_version)
                return replace(started, notice=REPLACED_NOTICE)
            elif session.observed_state == "starting" and await self._started_elsewhere(session):
                # Another Bay process sharing the database is starting it: wait for it
                # rather than undo its work.
                raise _StartingElsewhere
            await self._destroy(session)
        return await self._start(start, progress, seen_version)

    async def _started_elsewhere(self, session: Session) -> bool:
        """Whether the session's start is another live Bay process's, in progress.

        Under the sandbox's lock nothing in this process is starting it, so a start of
        ours was abandoned (a cancelled call's cleanup did not finish); another
        process's is in progress while that process lives and the start timeout has
        not passed."""
        age = (utcnow() - session.created_at).total_seconds()
        if age > self._start_timeout + _STALE_GRACE_S:
            return False
        starter = session.starter
        return (
            starter is not None
            and starter != self._leases.holder
            and await self._leases.alive(starter)
        )

    async def _version(self, sandbox_id: str) -> int:
        sandbox = await self._sandboxes.get(sandbox_id)
        if sandbox is None or sandbox.deleted_at is not None:
            raise NotFound(f"sandbox {sandbox_id} was deleted", {"sandbox_id": sandbox_id})
        return sandbox.version

    async def _claim(self, sandbox: Sandbox, session: Session, seen_version: int) -> None:
        """Insert the session if nobody changed the sandbox since `seen_version`.

        `seen_version` was read before looking for a session: if another Bay process
        claimed a start since, the version moved on and this claim fails.
        """
        if not await self._rows.insert_if_unchanged(session, seen_version):
            # Another process claimed a start (or changed the sandbox) since we
            # looked: look again, and wait for its start if that is what it was.
            raise _StartingElsewhere

    async def _start(
        self, start: StartContext, progress: Progress, seen_version: int
    ) -> ShipEndpoint:
        await self._setup.ready(progress)
        await self._images.ensure(start.profile.image, progress)
        pool = start.sandbox.owner == POOL_OWNER
        if not pool and self._starts.full():
            why = f"{self._starts.slots} others are starting (BAY_MAX_CONCURRENT_STARTS)"
            await progress(f"waiting to start sandbox {start.sandbox.id}: {why}")
        async with self._starts.turn(pool=pool):  # in arrival order, users' first
            return await self._start_now(start, progress, seen_version)

    async def _start_now(
        self, start: StartContext, progress: Progress, seen_version: int
    ) -> ShipEndpoint:
        sandbox, profile = start.sandbox, start.profile
        plan = (
            await self.egress.plan(sandbox, profile)
            if self.egress is not None
            else EgressPlan("none" if profile.egress_policy.mode == "none" else "bridge")
        )
        session = Session(
            sandbox_id=sandbox.id,
            ship_token=secrets.token_urlsafe(32),
            starter=self._leases.holder,
        )
        await self._claim(sandbox, session, seen_version)
        await progress(f"starting sandbox {sandbox.id}")
        started = time.monotonic()
        container_id: str | None = None
        try:
            info = await self._driver.run_container(
                ContainerSpec(
                    name=labels.container_name(session.id),
                    image=profile.image,
                    volume=start.volume,
                    env={
                        **ship_env(session, start.profile, start.sandbox, start.size_limit_mb),
                        **plan.env,
                    },
                    labels={
                        labels.INSTANCE: self._instance_id,
                        labels.OWNER: sandbox.owner,
                        labels.SANDBOX: sandbox.id,
                        labels.SESSION: session.id,
                        labels.CARGO: sandbox.cargo_id,
                        labels.PROFILE: profile.id,
                        labels.MANAGED: "true",
                    },
                    cpus=profile.cpus,
                    memory_mb=profile.memory_mb,
                    pids_limit=profile.pids_limit,
                    network=plan.network,
                    egress_proxy=plan.proxy,
                    read_only_root=profile.read_only_root,
                    runtime=profile.runtime,
                    ca_bundle=profile.ca_bundle,
                    skill_dirs=tuple(profile.skill_dirs),
                )
            )
            container_id = info.id
            await self._update(session, container_id=info.id)
            if plan.network == "egress" and self.egress is not None and info.address:
                await self.egress.started(sandbox, profile, info.address)
            endpoint = await self._wait_ready(info.id, session.ship_token, session.id)
            version = await self._handshake(endpoint, profile)
        except BaseException as exc:
            if container_id is not None:
                await asyncio.shield(self._driver.remove_container(container_id))
            reason = exc.message if isinstance(exc, BayError) else repr(exc)
            await asyncio.shield(self._update(session, observed_state="failed", last_error=reason))
            if isinstance(exc, DriverError):
                self._metrics.docker_errors.inc()
                raise DriverError(f"could not start sandbox {sandbox.id}: {exc.message}") from exc
            raise
        await self._update(
            session, observed_state="ready", endpoint=endpoint.url, runtime_version=version
        )
        if sandbox.last_stop is not None:  # running again: why it last stopped is history
            await self._sandboxes.note_stop(sandbox.id, None)
        elapsed = time.monotonic() - started
        self._metrics.session_start.observe(elapsed)
        log.info("sandbox %s: session %s ready in %.2f s", sandbox.id, session.id, elapsed)
        return self._endpoint(endpoint.url, session, start, progress)

    async def _wait_ready(self, container_id: str, token: str, session_id: str) -> ShipEndpoint:
        """Poll Ship's /health until it answers, the container dies, or the deadline."""
        started = time.monotonic()
        deadline = started + self._start_timeout
        next_state_check = 0.0
        endpoint: ShipEndpoint | None = None
        while True:
            now = time.monotonic()
            if endpoint is None or now >= next_state_check:
                info = await self._driver.inspect(container_id)
                if info.state in ("exited", "missing"):
                    logs = await self._driver.logs(container_id, tail=20)
                    raise ShipError(
                        f"the sandbox container stopped while starting (exit code "
                        f"{info.exit_code}); its last log lines:\n{logs.strip()}"
                    )
                if info.endpoint is not None:
                    endpoint = ShipEndpoint(info.endpoint, token, session_id)
                next_state_check = now + _STATE_CHECK_EVERY_S
            if endpoint is not None and await self._ship.healthy(endpoint):
                return endpoint
            if now > deadline:
                raise Timeout(
                    f"the sandbox runtime did not answer within {self._start_timeout:g} s; "
                    "the container was removed: try again"
                )
            await asyncio.sleep(max(_HEALTH_POLL_S, _HEALTH_POLL_SHARE * (now - started)))

    async def _handshake(self, endpoint: ShipEndpoint, profile: Profile) -> str:
        """Refuse a runtime whose /meta does not match what the profile needs; return
        its version."""
        meta = await self._ship.meta(endpoint)
        problems = []
        mount = meta.workspace.mount_path
        if mount != WORKSPACE_MOUNT:
            problems.append(f"workspace mount path is {mount!r}, not {WORKSPACE_MOUNT!r}")
        if meta.api_version.split(".")[0] != API_VERSION.split(".")[0]:
            problems.append(f"API version {meta.api_version} (Bay speaks {API_VERSION})")
        offered = set(meta.capabilities)
        missing = sorted(set(profile.capabilities) - offered)
        if missing:
            problems.append(f"capabilities {missing} are missing")
        if problems:
            raise ShipError(
                f"the image {profile.image} does not match profile {profile.id}: "
                + "; ".join(problems)
            )
        return meta.runtime.version

    async def _update(self, session: Session, **values: object) -> None:
        if await self._rows.update(session.id, values):
            for key, value in values.items():
                setattr(session, key, value)

    async def _destroy(self, session: Session) -> None:
        if session.container_id:
            await self._driver.remove_container(session.container_id)
            if self.egress is not None and session.endpoint:
                await self.egress.stopped(urlsplit(session.endpoint).hostname or "")
        await self._rows.delete(session.id)

    async def pool_heartbeat(self, sandbox_id: str, *, claimed: bool) -> None:
        """Tell a pool member's Ship that its Bay is there (or that it was claimed); a
        member with no ready session has nothing to tell."""
        session = await self._rows.latest(sandbox_id)
        if session is None or session.observed_state != "ready" or session.endpoint is None:
            return
        endpoint = ShipEndpoint(session.endpoint, session.ship_token, session.id)
        await self._ship.pool_heartbeat(endpoint, claimed=claimed)

    async def pause_if_idle(self, sandbox_id: str, idle_before: datetime) -> bool:
        """Freeze the sandbox's ready session if no call used it since `idle_before`
        (checked again under the sandbox's lock); the next call thaws it."""
        if not self._driver.can_pause:
            return False
        async with self._lock(sandbox_id):
            if self.in_use(sandbox_id):
                return False
            return await self._states.pause_if_idle(sandbox_id, idle_before)

    async def thaw(self, sandbox_id: str) -> None:
        """Thaw the sandbox's session if Bay paused it (a preview request's wake-up)."""
        async with self._lock(sandbox_id):
            session = await self._rows.latest(sandbox_id)
            if session is not None and session.observed_state == "paused":
                await self._states.thaw(session)

    async def unresponsive(self, sandbox_id: str, endpoint: ShipEndpoint) -> bool:
        """After a call that got no answer in time: whether the session's runtime does
        not answer /health either (then it is marked unhealthy, and replaced by the
        next call, files kept). A session Bay paused is thawed instead."""
        return await self._states.unresponsive(sandbox_id, endpoint)

    async def stop_if_idle(self, sandbox_id: str, idle_before: datetime) -> bool:
        """Destroy the session if no call used the sandbox since `idle_before`.

        Checked again under the sandbox's lock, so a call that just started keeps it.
        """
        async with self._lock(sandbox_id):
            if self.in_use(sandbox_id):
                return False
            sandbox, sessions = await self._rows.sandbox_and_sessions(sandbox_id)
            if sandbox is None or not sessions:
                return False
            if self._activity.last_active(sandbox_id, sandbox.last_active_at) >= idle_before:
                return False
            for session in sessions:
                await self._destroy(session)
            return True

    async def reconcile(self) -> tuple[int, int]:
        """At start: keep sessions whose container still runs, drop the others.

        Returns (adopted, dropped). A session caught half-way through its start by a
        crash is dropped with its container, unless another live Bay process sharing
        the database is starting it; the next call starts a new one.
        """
        sessions = await self._rows.all()
        adopted = dropped = 0
        for session in sessions:
            if session.observed_state == "starting" and await self._started_elsewhere(session):
                continue  # another Bay process sharing the database is starting it
            async with self._lock(session.sandbox_id):
                alive = False
                if session.observed_state in ("ready", "paused") and session.container_id:
                    info = await self._driver.inspect(session.container_id)
                    alive = info.state in ("running", "paused") and info.endpoint is not None
                if alive:
                    adopted += 1
                else:
                    await self._destroy(session)
                    dropped += 1
        return adopted, dropped

    async def stop(self, sandbox_id: str) -> None:
        """Destroy every session of the sandbox (idempotent). The cargo is untouched."""
        async with self._lock(sandbox_id):
            for session in await self._rows.of_sandbox(sandbox_id):
                await self._destroy(session)
