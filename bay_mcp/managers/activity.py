"""When each sandbox was last used: kept in memory, written to the database in batches.

A call used to write `last_active_at` twice (two commits, ~2 ms each on a warm exec);
now it only notes the time here. The notes are written every `interval` seconds and
when Bay closes; whoever decides on idleness in this process (the reaper) reads
`last_active` over the database's value, so nothing here is ever stopped for looking
idle when it was just used. After a crash the idle timers are at most `interval`
stale, nothing else.

Calls still running count as use at every write: a long call through one Bay process
keeps its sandbox from looking idle to the reaper of another sharing the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import utcnow
from bay_mcp.storage.sandboxes import SandboxRepository

log = logging.getLogger(__name__)


class ActivityClock:
    def __init__(self, db: Database, interval: float = 2.0) -> None:
        self._rows = SandboxRepository(db)
        self._interval = interval
        self._pending: dict[str, datetime] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The sandboxes with calls running in this process (set by the composition root).
        self.busy: Callable[[], Iterable[str]] = tuple

    def touch(self, sandbox_id: str) -> None:
        self._pending[sandbox_id] = utcnow()

    def last_active(self, sandbox_id: str, stored: datetime) -> datetime:
        """The later of the database's value and the one not written yet."""
        pending = self._pending.get(sandbox_id)
        return stored if pending is None or pending < stored else pending

    async def flush(self) -> None:
        """Write the noted times, one statement for all of them."""
        for sandbox_id in self.busy():
            self.touch(sandbox_id)
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._rows.write_last_active(batch)
        except Exception:
            # Kept for the next flush, unless a newer time was noted meanwhile.
            for sandbox_id, at in batch.items():
                self._pending.setdefault(sandbox_id, at)
            log.exception("could not write the last activity of %d sandbox(es)", len(batch))

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="activity-clock")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
            await self.flush()

    async def stop(self) -> None:
        """Stop the periodic writes and write what is left."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
