"""The reaper: stops idle sessions, deletes expired sandboxes, removes what Bay
orphaned. Runs on an interval in the server's lifespan, and on demand (admin).

Orphans are found by this instance's labels only: a container or volume without
`bay.instance_id=<ours>` is never touched, and external cargo never is either. A
snapshot's volume lives as long as its row and its sandbox: it is an orphan once its
sandbox is deleted or gone, or when no row names it (after the grace period). A volume
copy's helper container is left alone for as long as a copy may run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from pydantic import BaseModel

from bay_mcp.drivers import Driver
from bay_mcp.errors import BayError
from bay_mcp.limits import MAX_COPY_S
from bay_mcp.managers import labels
from bay_mcp.managers.cargo_helpers import HELPER_MAX_AGE_S
from bay_mcp.managers.sessions import SessionManager
from bay_mcp.metrics import Metrics
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.settings import SINGULAR_GC_TASKS, BaySettings, GcTaskName
from bay_mcp.storage.cargos import CargoRepository
from bay_mcp.storage.database import Database
from bay_mcp.storage.leases import Leases
from bay_mcp.storage.models import Sandbox, Snapshot, utcnow
from bay_mcp.storage.sandboxes import SandboxRepository
from bay_mcp.storage.sessions import SessionRepository
from bay_mcp.storage.snapshots import SnapshotRepository

log = logging.getLogger(__name__)

REAPER_LEASE = "reaper"
# Renewed before each task; a reaper that died frees it after this.
LEASE_TTL = timedelta(minutes=5)


class GcRunning(BayError):
    code = "locked"
    status = 423


class TaskResult(BaseModel):
    task_name: str
    cleaned_count: int = 0
    skipped_count: int = 0
    errors: list[str] = []


class RunReport(BaseModel):
    results: list[TaskResult]
    total_cleaned: int
    total_errors: int
    duration_ms: int


class GcStatus(BaseModel):
    enabled: bool
    is_running: bool
    instance_id: str
    interval_seconds: float
    tasks: list[str]
    last_run: RunReport | None = None


@dataclass
class _Tally:
    result: TaskResult

    def error(self, what: str, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, BayError) else repr(exc)
        log.warning("gc %s: %s: %s", self.result.task_name, what, message)
        self.result.errors.append(f"{what}: {message}")


class Reaper:
    def __init__(
        self,
        db: Database,
        driver: Driver,
        sessions: SessionManager,
        sandboxes: SandboxService,
        settings: BaySettings,
        instance_id: str,
        metrics: Metrics,
        leases: Leases,
    ) -> None:
        self._leases = leases
        self._metrics = metrics
        self._sandbox_rows = SandboxRepository(db)
        self._session_rows = SessionRepository(db)
        self._cargo_rows = CargoRepository(db)
        self._snapshot_rows = SnapshotRepository(db)
        self._driver = driver
        self._sessions = sessions
        self._sandboxes = sandboxes
        self._settings = settings
        self._instance_id = instance_id
        self._running = asyncio.Lock()
        self._loop: asyncio.Task[None] | None = None
        self.last_run: RunReport | None = None
        # Whether a sandbox's processes printed since a time (set by the composition root):
        # a process that prints keeps its sandbox from being idle.
        self.printing: Callable[[str, datetime], Awaitable[bool]] | None = None

    def status(self) -> GcStatus:
        return GcStatus(
            enabled=self._settings.gc_enabled,
            is_running=self._running.locked(),
            instance_id=self._instance_id,
            interval_seconds=self._settings.gc_interval_seconds,
            tasks=list(self._settings.gc_tasks),
            last_run=self.last_run,
        )

    async def run(self, tasks: list[GcTaskName] | None = None) -> RunReport:
        """One pass over `tasks` (default: the configured ones), in either spelling;
        each result carries the name as asked. GcRunning if a run is in progress."""
        if self._running.locked():
            raise GcRunning("a garbage collection run is in progress; try again when it ends")
        async with self._running:
            # One reaper at a time among the Bay processes sharing the database.
            if not await self._leases.acquire(REAPER_LEASE, LEASE_TTL):
                raise GcRunning(
                    "another Bay process sharing the database is running garbage "
                    "collection; try again when it ends"
                )
            try:
                report = await self._run_tasks(tasks)
            finally:
                await self._leases.release(REAPER_LEASE)
        if report.total_cleaned or report.total_errors:
            log.info("gc: cleaned %d, errors %d", report.total_cleaned, report.total_errors)
        self.last_run = report
        return report

    async def _run_tasks(self, tasks: list[GcTaskName] | None) -> RunReport:
        started = time.monotonic()
        results = []
        for task in tasks or self._settings.gc_tasks:
            await self._leases.acquire(REAPER_LEASE, LEASE_TTL)  # renewed per task
            tally = _Tally(TaskResult(task_name=task))
            try:
                await getattr(self, f"_{SINGULAR_GC_TASKS.get(task, task)}")(tally)
            except Exception as exc:  # one task failing must not stop the others
                tally.error("the task stopped", exc)
            results.append(tally.result)
            self._metrics.reaper_cleaned.labels(task=task).inc(tally.result.cleaned_count)
        return RunReport(
            results=results,
            total_cleaned=sum(r.cleaned_count for r in results),
            total_errors=sum(len(r.errors) for r in results),
            duration_ms=int((time.monotonic() - started) * 1000),
        )

    # -- tasks --------------------------------------------------------------------------

    async def _idle_sessions(self, tally: _Tally) -> None:
        now = utcnow()
        # Warm pool members wait unused on purpose: the pool rotates them.
        for sandbox in await self._sandbox_rows.with_sessions():
            profile = self._settings.profile(sandbox.profile)
            timeout = profile.idle_timeout_seconds if profile else 600
            idle_before = now - timedelta(seconds=timeout)
            try:
                if await self._printing(sandbox, idle_before):
                    tally.result.skipped_count += 1
                    continue
                stopped = await self._sessions.stop_if_idle(sandbox.id, idle_before=idle_before)
            except Exception as exc:
                tally.error(f"stopping {sandbox.id}", exc)
                continue
            if stopped:
                await self._sandbox_rows.note_stop(
                    sandbox.id,
                    f"stopped at {now:%Y-%m-%d %H:%M} UTC: unused for {timeout} s "
                    "(its profile's idle_timeout_seconds); its files are kept",
                )
                tally.result.cleaned_count += 1
                log.info(
                    "gc: sandbox %s idle for %d s: its session was stopped", sandbox.id, timeout
                )
            else:
                tally.result.skipped_count += 1

    async def _printing(self, sandbox: Sandbox, idle_before: datetime) -> bool:
        """Whether a sandbox no call used since `idle_before` has a process that printed
        since: it is not idle (Ship is asked only of sandboxes that look idle)."""
        if self.printing is None or not self._sessions.looks_idle(sandbox, idle_before):
            return False
        return await self.printing(sandbox.id, idle_before)

    async def _expired_sandboxes(self, tally: _Tally) -> None:
        for sandbox in await self._sandbox_rows.expired(utcnow()):
            try:
                await self._sandboxes.remove(sandbox)
            except Exception as exc:
                tally.error(f"deleting {sandbox.id}", exc)
                continue
            tally.result.cleaned_count += 1
            log.info("gc: sandbox %s expired and was deleted", sandbox.id)

    async def _orphan_containers(self, tally: _Tally) -> None:
        grace = timedelta(seconds=self._settings.gc_orphan_grace_seconds)
        now = utcnow()
        containers = await self._driver.list_containers({labels.INSTANCE: self._instance_id})
        sessions = await self._session_rows.all()
        live = {session.container_id: session for session in sessions if session.container_id}
        starting = {session.id for session in sessions if session.container_id is None}
        for container in containers:
            if container.id in live or container.labels.get(labels.SESSION) in starting:
                tally.result.skipped_count += 1
                continue
            young = grace
            if container.labels.get(labels.ROLE) == labels.COPY_ROLE:
                young = grace + timedelta(seconds=MAX_COPY_S)  # its copy may still run
            elif container.labels.get(labels.ROLE) == labels.CARGO_FILES_ROLE:
                young = grace + timedelta(seconds=HELPER_MAX_AGE_S)  # its Bay may still use it
            if container.created_at is not None and now - container.created_at < young:
                tally.result.skipped_count += 1  # maybe half-way through its start
                continue
            try:
                await self._driver.remove_container(container.id)
            except Exception as exc:
                tally.error(f"removing container {container.id[:12]}", exc)
                continue
            tally.result.cleaned_count += 1
            log.info("gc: removed orphan container %s (%s)", container.id[:12], container.name)

    async def _orphan_cargos(self, tally: _Tally) -> None:
        volumes = await self._driver.list_volumes(
            {labels.INSTANCE: self._instance_id, labels.MANAGED: "true"}
        )
        census = await self._cargo_rows.volume_census()
        grace = self._settings.gc_orphan_grace_seconds
        for volume in volumes:
            if labels.is_snapshot_volume(volume):
                await self._orphan_snapshot(
                    tally, volume, census.snapshots.get(volume), census.live, grace
                )
                continue
            cargo = census.cargos.get(volume)
            if cargo is not None and not cargo.managed:
                tally.result.skipped_count += 1  # external cargo: never reaped
                continue
            if cargo is not None and cargo.managed_by_sandbox_id not in census.deleted:
                tally.result.skipped_count += 1  # its sandbox lives
                continue
            if cargo is None and grace and not await self._volume_is_old(volume, grace):
                tally.result.skipped_count += 1  # maybe half-way through creation
                continue
            forget = None if cargo is None else partial(self._cargo_rows.delete_row, cargo.id)
            await self._remove_volume(tally, volume, forget)

    async def _orphan_snapshot(
        self, tally: _Tally, volume: str, snapshot: Snapshot | None, live: set[str], grace: float
    ) -> None:
        if snapshot is not None and snapshot.sandbox_id in live:
            tally.result.skipped_count += 1  # a live sandbox's snapshot
            return
        if snapshot is None and not await self._volume_is_old(volume, grace + MAX_COPY_S):
            tally.result.skipped_count += 1  # maybe being filled: its row comes after
            return
        forget = None if snapshot is None else partial(self._snapshot_rows.delete, snapshot.id)
        await self._remove_volume(tally, volume, forget)

    async def _remove_volume(
        self, tally: _Tally, volume: str, delete_row: Callable[[], Awaitable[None]] | None
    ) -> None:
        """Remove an orphan volume, then the row that named it (if any)."""
        try:
            await self._driver.remove_volume(volume)
            if delete_row is not None:
                await delete_row()
        except Exception as exc:
            tally.error(f"removing volume {volume}", exc)
            return
        tally.result.cleaned_count += 1
        log.info("gc: removed orphan volume %s", volume)

    async def _volume_is_old(self, volume: str, grace: float) -> bool:
        created = await self._driver.volume_created_at(volume)
        return created is None or (utcnow() - created).total_seconds() > grace

    # -- the loop -----------------------------------------------------------------------

    def start(self) -> None:
        if self._settings.gc_enabled and self._loop is None:
            self._loop = asyncio.create_task(self._every_interval(), name="bay-reaper")

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._settings.gc_interval_seconds)
            try:
                await self.run()
            except GcRunning:
                continue
            except Exception:
                log.exception("gc run failed; the next one will try again")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
