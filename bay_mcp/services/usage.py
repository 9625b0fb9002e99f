"""What sandboxes use now: CPU (percent of a core) and memory, for the console.

Read from the engine when asked (the console loads them after its page), never on a
call's path.
CPU needs two readings: the first look at a sandbox shows its memory and no CPU yet;
the console asks again every few seconds, and from the second reading on both show.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bay_mcp.drivers import Driver, UsageReader
from bay_mcp.drivers.docker_stats import UsageSample
from bay_mcp.storage.database import Database
from bay_mcp.storage.sessions import SessionRepository

# Engine calls at once. The engine answers a reading at its stats collector's next
# tick (about a second, one-shot or not), one tick for every reader: so a page's
# sandboxes are read together, not in turns.
CONCURRENT_READS = 100
# A reading this recent is shown again rather than read again (several people looking,
# or a page and its refresh).
FRESH_S = 3.0
# A reading nobody has asked to refresh for this long is forgotten.
FORGET_S = 600.0


@dataclass(frozen=True)
class Usage:
    cpu_percent: float | None
    memory_bytes: int
    memory_limit_bytes: int | None


class UsageService:
    def __init__(self, db: Database, driver: Driver) -> None:
        self._sessions = SessionRepository(db)
        self._reader = driver if isinstance(driver, UsageReader) else None
        # By container id: the last reading (CPU is the change since it), and the last
        # usage shown with when it was read.
        self._last: dict[str, UsageSample] = {}
        self._shown: dict[str, tuple[float, Usage]] = {}
        self._reads = asyncio.Semaphore(CONCURRENT_READS)

    @property
    def available(self) -> bool:
        return self._reader is not None

    async def of(self, sandbox_ids: list[str]) -> dict[str, Usage]:
        """Usage of those of these sandboxes whose container runs (paused ones too)."""
        if self._reader is None or not sandbox_ids:
            return {}
        sessions = await self._sessions.latest_of(sandbox_ids)
        running = {
            sandbox_id: session.container_id
            for sandbox_id, session in sessions.items()
            if session.container_id and session.observed_state in ("ready", "paused")
        }
        self._forget_old()
        readings = await asyncio.gather(*(self._read(c) for c in running.values()))
        return {
            sandbox_id: usage
            for sandbox_id, usage in zip(running, readings, strict=True)
            if usage is not None
        }

    def _forget_old(self) -> None:
        """Drop readings nobody asked for again (containers gone, pages closed)."""
        now = time.monotonic()
        for container_id in [c for c, s in self._last.items() if now - s.taken_at > FORGET_S]:
            del self._last[container_id]
            self._shown.pop(container_id, None)

    async def _read(self, container_id: str) -> Usage | None:
        assert self._reader is not None
        fresh = self._shown.get(container_id)
        if fresh is not None and time.monotonic() - fresh[0] < FRESH_S:
            return fresh[1]
        async with self._reads:
            sample = await self._reader.usage(container_id)
        if sample is None:
            self._last.pop(container_id, None)
            self._shown.pop(container_id, None)
            return None
        before = self._last.get(container_id)
        self._last[container_id] = sample
        usage = Usage(
            cpu_percent=sample.cpu_percent_since(before) if before else None,
            memory_bytes=sample.memory_bytes,
            memory_limit_bytes=sample.memory_limit_bytes,
        )
        self._shown[container_id] = (sample.taken_at, usage)
        return usage
