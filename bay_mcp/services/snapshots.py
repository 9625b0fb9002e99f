"""Snapshots and forks of a sandbox's /workspace (its cargo).

A snapshot is a copy of the cargo, in a volume of its own, made while the sandbox's
gate is held alone (`managers/gate.py`): it waits for the calls in flight and calls
wait for it, so it holds the files as they were between two calls. The kernel's
memory (variables, imports) is not saved. Restoring puts the files back exactly and
stops the session, so the next call starts a fresh kernel; a fork is a new sandbox
(same owner, profile, environment and expiry, never a warm pool member) whose own new
cargo gets a copy of the files, of a snapshot or of the sandbox as it is now.

Rules: a snapshot belongs to its sandbox and is deleted with it (`SandboxLifecycle.remove`);
a fork copies what it needs and never refers to the source's volumes afterwards.
An owner's snapshots count against BAY_MAX_SNAPSHOTS_PER_OWNER and, by their size,
BAY_MAX_SNAPSHOT_MB_PER_OWNER: checked before a copy (cheap refusals) and again,
with the new size, before the snapshot is recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bay_mcp.drivers import VolumeCopy
from bay_mcp.errors import DriverError, NotFound, QuotaExceeded, Timeout, ValidationFailed
from bay_mcp.limits import MB
from bay_mcp.managers import Progress, no_progress
from bay_mcp.managers.cargos import CargoManager
from bay_mcp.managers.gate import CALL_WAIT_S, SandboxGate
from bay_mcp.managers.locks import KeyedLocks
from bay_mcp.managers.sessions import SessionManager
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.views import (
    MAX_SNAPSHOT_NAME_CHARS,
    ForkedSandbox,
    SnapshotList,
    SnapshotRestored,
    SnapshotTaken,
    SnapshotView,
)
from bay_mcp.settings import BaySettings
from bay_mcp.storage.cargos import CargoRepository
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Snapshot, new_id, utcnow
from bay_mcp.storage.snapshots import SnapshotRepository

log = logging.getLogger(__name__)

KERNEL_NOT_SAVED = (
    "Only the files in /workspace are saved: the Python kernel's memory (variables, "
    "imports) and running processes are not."
)


def snapshot_view(row: Snapshot) -> SnapshotView:
    return SnapshotView(
        id=row.id,
        sandbox_id=row.sandbox_id,
        name=row.name,
        size_bytes=row.size_bytes,
        created_at=row.created_at,
    )


def _mb(size_bytes: int) -> str:
    return f"{size_bytes / MB:.1f} MB"


class SnapshotService:
    def __init__(
        self,
        db: Database,
        settings: BaySettings,
        sandboxes: SandboxService,
        sessions: SessionManager,
        cargos: CargoManager,
        gate: SandboxGate,
    ) -> None:
        self._rows = SnapshotRepository(db)
        self._cargo_rows = CargoRepository(db)
        self._settings = settings
        self._sandboxes = sandboxes
        self._sessions = sessions
        self._cargos = cargos
        self._gate = gate
        # Held while an owner's quota is checked and a snapshot recorded (not while
        # copying), so two snapshots at once cannot both take the last place.
        self._owner_locks = KeyedLocks()

    async def create(
        self,
        owner: str,
        sandbox_id: str,
        name: str | None = None,
        progress: Progress = no_progress,
    ) -> SnapshotTaken:
        """Copy the sandbox's /workspace into a new snapshot, between calls. NotFound,
        SandboxExpired, QuotaExceeded, Timeout (calls running too long), DriverError."""
        if name is not None and len(name) > MAX_SNAPSHOT_NAME_CHARS:
            raise ValidationFailed(
                f"name is at most {MAX_SNAPSHOT_NAME_CHARS} characters", {"fields": ["name"]}
            )
        await self._sandboxes.check_owner(owner, sandbox_id)
        await self._check_quota(owner, adding_bytes=0)  # refused before any wait or copy
        async with self._gate.exclusive(sandbox_id, progress):
            sandbox, cargo, profile = await self._sandboxes.for_copy(owner, sandbox_id)
            snapshot_id = new_id("snap")
            volume = await self._cargos.create_snapshot_volume(
                owner=owner, sandbox_id=sandbox.id, snapshot_id=snapshot_id
            )
            try:
                await progress(f"copying the workspace of sandbox {sandbox_id}")
                copied = await self._cargos.copy(cargo.driver_ref, volume, profile.image)
                row = Snapshot(
                    id=snapshot_id,
                    sandbox_id=sandbox.id,
                    owner=owner,
                    name=name,
                    driver_ref=volume,
                    size_bytes=copied.size_bytes,
                    created_at=utcnow(),
                )
                async with self._owner_lock(owner):
                    await self._check_quota(owner, adding_bytes=copied.size_bytes)
                    await self._rows.insert(row)
            except BaseException:
                await asyncio.shield(self._discard_volume(volume))
                raise
        log.info(
            "owner %s took snapshot %s of sandbox %s (%d bytes in %.2f s)",
            owner,
            snapshot_id,
            sandbox_id,
            copied.size_bytes,
            copied.seconds,
        )
        return SnapshotTaken(
            **snapshot_view(row).model_dump(),
            copy_ms=_ms(copied),
            message=f"Snapshot {snapshot_id} holds the files of /workspace ("
            f"{_mb(copied.size_bytes)}). {KERNEL_NOT_SAVED} restore_snapshot puts the files "
            "back; fork_sandbox makes a new sandbox from them.",
        )

    async def list(self, owner: str, sandbox_id: str) -> SnapshotList:
        """The sandbox's snapshots, oldest first. NotFound."""
        await self._sandboxes.check_owner(owner, sandbox_id)
        rows = await self._rows.of_sandbox(sandbox_id)
        return SnapshotList(sandbox_id=sandbox_id, snapshots=[snapshot_view(r) for r in rows])

    async def get(self, owner: str, sandbox_id: str, snapshot_id: str) -> SnapshotView:
        """One of the sandbox's snapshots. NotFound."""
        await self._sandboxes.check_owner(owner, sandbox_id)
        return snapshot_view(await self._snapshot(owner, sandbox_id, snapshot_id))

    async def delete(self, owner: str, sandbox_id: str, snapshot_id: str) -> None:
        """Delete the snapshot and its volume. NotFound (a second delete too)."""
        await self._sandboxes.check_owner(owner, sandbox_id)
        async with self._gate.exclusive(sandbox_id):
            snapshot = await self._snapshot(owner, sandbox_id, snapshot_id)
            await self._cargos.remove_volume(snapshot.driver_ref)
            await self._rows.delete(snapshot.id)
        log.info("owner %s deleted snapshot %s of sandbox %s", owner, snapshot_id, sandbox_id)

    async def restore(
        self, owner: str, sandbox_id: str, snapshot_id: str, progress: Progress = no_progress
    ) -> SnapshotRestored:
        """Put the snapshot's files back in /workspace exactly (files made since are
        gone) and stop the session: the next call starts a fresh kernel. NotFound,
        SandboxExpired, Timeout, DriverError (the workspace may then be half restored)."""
        await self._sandboxes.check_owner(owner, sandbox_id)
        async with self._gate.exclusive(sandbox_id, progress):
            sandbox, cargo, profile = await self._sandboxes.for_copy(owner, sandbox_id)
            snapshot = await self._snapshot(owner, sandbox_id, snapshot_id)
            # The kernel and any process would hold state that no longer matches the files.
            await self._sessions.stop(sandbox.id)
            await progress(f"restoring snapshot {snapshot_id} into sandbox {sandbox_id}")
            try:
                copied = await self._cargos.copy(
                    snapshot.driver_ref, cargo.driver_ref, profile.image, replace=True
                )
            except (DriverError, Timeout) as exc:
                raise type(exc)(
                    f"restoring snapshot {snapshot_id} failed: {exc.message}. /workspace may "
                    "hold part of it: restore again",
                    exc.details,
                ) from exc
        log.info("owner %s restored snapshot %s into %s", owner, snapshot_id, sandbox_id)
        # Any file may have changed: the cargo root says so.
        await self._sandboxes.changes.files(owner, sandbox_id, ())
        return SnapshotRestored(
            sandbox_id=sandbox_id,
            snapshot_id=snapshot_id,
            size_bytes=copied.size_bytes,
            copy_ms=_ms(copied),
            message=f"/workspace is back as it was in snapshot {snapshot_id}; files made "
            "since are gone. The sandbox was stopped: the next call starts a fresh Python "
            "kernel, so variables and imports must be set up again.",
        )

    async def fork(
        self,
        owner: str,
        sandbox_id: str,
        snapshot_id: str | None = None,
        progress: Progress = no_progress,
    ) -> ForkedSandbox:
        """A new sandbox with a copy of the files: of the snapshot if given, else of
        the sandbox now (between calls). NotFound, SandboxExpired, QuotaExceeded (the
        owner's sandboxes), Timeout, DriverError."""
        await self._sandboxes.check_owner(owner, sandbox_id)
        async with self._gate.exclusive(sandbox_id, progress):
            source, cargo, profile = await self._sandboxes.for_copy(owner, sandbox_id)
            origin = cargo.driver_ref
            if snapshot_id is not None:
                origin = (await self._snapshot(owner, sandbox_id, snapshot_id)).driver_ref
            forked = await self._sandboxes.create_fork(source)
            try:
                new_cargo = await self._cargo_rows.get(forked.cargo_id)
                assert new_cargo is not None  # made with the sandbox, just now
                await progress(f"copying the files into the new sandbox {forked.id}")
                copied = await self._cargos.copy(origin, new_cargo.driver_ref, profile.image)
            except BaseException:
                await asyncio.shield(self._sandboxes.remove(forked))
                raise
        what = f"snapshot {snapshot_id}" if snapshot_id else f"sandbox {sandbox_id} as it was"
        view = await self._sandboxes.view(forked)
        return ForkedSandbox(
            **view.model_dump(),
            forked_from=sandbox_id,
            snapshot_id=snapshot_id,
            size_bytes=copied.size_bytes,
            copy_ms=_ms(copied),
            message=f"Sandbox {forked.id} has a copy of the files of {what} "
            f"({_mb(copied.size_bytes)}); the two now change independently. Its Python kernel "
            "starts fresh on its first call.",
        )

    # -- rules --------------------------------------------------------------------------

    async def _snapshot(self, owner: str, sandbox_id: str, snapshot_id: str) -> Snapshot:
        row = await self._rows.get(snapshot_id)
        if row is None or row.owner != owner or row.sandbox_id != sandbox_id:
            raise NotFound(
                f"snapshot {snapshot_id} not found in sandbox {sandbox_id}: list_snapshots "
                "shows its snapshots"
            )
        return row

    async def _check_quota(self, owner: str, *, adding_bytes: int) -> None:
        """QuotaExceeded when one more snapshot of `adding_bytes` would pass a limit."""
        limit_count = self._settings.max_snapshots_per_owner
        limit_bytes = self._settings.max_snapshot_mb_per_owner * MB
        count, used = await self._rows.usage(owner)
        if count >= limit_count:
            oldest = await self._owners_snapshots(owner, largest=False)
            raise QuotaExceeded(
                f"owner {owner} has {count} snapshots, the most allowed "
                f"(BAY_MAX_SNAPSHOTS_PER_OWNER={limit_count}): delete one with delete_snapshot "
                f"first; the oldest: {_named(oldest)}",
                {"limit": limit_count, "scope": "snapshots", "snapshots": _details(oldest)},
            )
        if used + adding_bytes > limit_bytes or (adding_bytes == 0 and used >= limit_bytes):
            largest = await self._owners_snapshots(owner, largest=True)
            this = f"; this one takes {_mb(adding_bytes)}" if adding_bytes else ""
            raise QuotaExceeded(
                f"owner {owner}'s snapshots take {_mb(used)}{this}, over the limit of "
                f"{self._settings.max_snapshot_mb_per_owner} MB "
                "(BAY_MAX_SNAPSHOT_MB_PER_OWNER): delete some with delete_snapshot first "
                f"(or files in /workspace); the largest: {_named(largest)}",
                {
                    "limit_mb": self._settings.max_snapshot_mb_per_owner,
                    "used_bytes": used,
                    "snapshot_bytes": adding_bytes,
                    "scope": "snapshot_mb",
                    "snapshots": _details(largest),
                },
            )

    async def _owners_snapshots(self, owner: str, *, largest: bool) -> Sequence[Snapshot]:
        """A few of the owner's snapshots to name in a refusal: the oldest, or the largest."""
        return await self._rows.few_of_owner(owner, largest=largest)

    @asynccontextmanager
    async def _owner_lock(self, owner: str) -> AsyncIterator[None]:
        lock = self._owner_locks(owner)
        try:
            async with asyncio.timeout(CALL_WAIT_S):
                await lock.acquire()
        except TimeoutError as exc:
            raise Timeout(
                f"owner {owner}'s other snapshots kept the quota check waiting for more than "
                f"{CALL_WAIT_S:g} s; retry in a moment"
            ) from exc
        try:
            yield
        finally:
            lock.release()

    async def _discard_volume(self, volume: str) -> None:
        try:
            await self._cargos.remove_volume(volume)
        except Exception as exc:  # the reaper removes it later (no snapshot row names it)
            log.warning("could not remove the unfinished snapshot volume %s: %r", volume, exc)


def _ms(copied: VolumeCopy) -> int:
    return int(copied.seconds * 1000)


def _named(rows: Sequence[Snapshot]) -> str:
    return ", ".join(f"{r.id} of {r.sandbox_id} ({_mb(r.size_bytes)})" for r in rows)


def _details(rows: Sequence[Snapshot]) -> list[dict[str, object]]:
    return [
        {"snapshot_id": r.id, "sandbox_id": r.sandbox_id, "size_bytes": r.size_bytes} for r in rows
    ]
