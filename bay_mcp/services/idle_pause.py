"""Pausing idle sandboxes: a sandbox unused for its profile's `pause_after_idle_seconds`,
with no process printing, is frozen (the engine's pause: the cgroup freezer), its memory
kept and no CPU used; the next call, preview request or process call thaws it first
(SessionManager). The idle stop still comes at `idle_timeout_seconds`, counted from the
last use as before.

Frozen memory is bounded on the host: the paused sandboxes together may hold
BAY_MAX_PAUSED_MEMORY_MB (each counted at its profile's memory limit); past it, the
longest paused are stopped, their files kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bay_mcp.drivers import Driver
from bay_mcp.managers.sessions import SessionManager
from bay_mcp.settings import BaySettings
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Sandbox, utcnow
from bay_mcp.storage.sandboxes import SandboxRepository
from bay_mcp.storage.sessions import SessionRepository

log = logging.getLogger(__name__)


class IdlePauser:
    def __init__(
        self, db: Database, driver: Driver, sessions: SessionManager, settings: BaySettings
    ) -> None:
        self._sandbox_rows = SandboxRepository(db)
        self._session_rows = SessionRepository(db)
        self._driver = driver
        self._sessions = sessions
        self._settings = settings
        self._loop: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        # Whether a sandbox's processes printed since a time (the composition root sets
        # it): a process that prints keeps its sandbox running.
        self.printing: Callable[[str, datetime], Awaitable[bool]] | None = None

    def start(self) -> None:
        pausing = any(p.pause_after_idle_seconds for p in self._settings.profiles)
        if self._driver.can_pause and pausing and self._loop is None:
            self._loop = asyncio.create_task(self._every_interval(), name="bay-idle-pause")

    async def stop(self) -> None:
        self._stopping.set()
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def _every_interval(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), self._settings.pause_check_interval_seconds
                )
            if self._stopping.is_set():
                return
            try:
                await self.run()
            except Exception:
                log.exception("pausing idle sandboxes failed; the next pass tries again")

    async def run(self) -> int:
        """One pass: pause what is idle, then keep paused memory within its limit.
        Returns how many sandboxes were paused."""
        paused = 0
        now = utcnow()
        # Warm pool members are left out (with_sessions): they wait unused on purpose.
        for sandbox in await self._sandbox_rows.with_sessions():
            profile = self._settings.profile(sandbox.profile)
            if profile is None or not profile.pause_after_idle_seconds:
                continue
            idle_before = now - timedelta(seconds=profile.pause_after_idle_seconds)
            if not self._sessions.looks_idle(sandbox, idle_before):
                continue
            if await self._printing(sandbox, idle_before):
                continue
            try:
                if await self._sessions.pause_if_idle(sandbox.id, idle_before):
                    paused += 1
                    log.info("sandbox %s: idle, paused with its memory kept", sandbox.id)
            except Exception as exc:  # one sandbox must not stop the pass
                log.warning("sandbox %s: could not be paused: %s", sandbox.id, exc)
        await self._keep_paused_memory_within_limit()
        return paused

    async def _printing(self, sandbox: Sandbox, idle_before: datetime) -> bool:
        return self.printing is not None and await self.printing(sandbox.id, idle_before)

    async def _keep_paused_memory_within_limit(self) -> None:
        paused = [s for s in await self._session_rows.all() if s.observed_state == "paused"]
        paused.sort(key=lambda session: session.updated_at)  # the longest paused first
        held: list[tuple[str, int]] = []
        for session in paused:
            sandbox = await self._sandbox_rows.get(session.sandbox_id)
            profile = self._settings.profile(sandbox.profile) if sandbox else None
            held.append((session.sandbox_id, profile.memory_mb if profile else 0))
        total = sum(memory for _, memory in held)
        limit = self._settings.max_paused_memory_mb
        for sandbox_id, memory in held:
            if total <= limit:
                break
            log.info(
                "sandbox %s: stopped, its files kept: paused sandboxes held %d MB, over "
                "BAY_MAX_PAUSED_MEMORY_MB=%d",
                sandbox_id,
                total,
                limit,
            )
            await self._sessions.stop(sandbox_id)
            await self._sandbox_rows.note_stop(
                sandbox_id,
                f"stopped at {utcnow():%Y-%m-%d %H:%M} UTC while paused: paused sandboxes held "
                f"{total} MB, over BAY_MAX_PAUSED_MEMORY_MB={limit}; its files are kept, its "
                "memory is not",
            )
            total -= memory
