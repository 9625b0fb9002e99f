"""A warm-pool member's watch for its Bay: a member nobody claims and no Bay keeps alive
stops itself, so a host that crashed and never returns leaves no container running.

Bay starts pool members with SHIP_ORPHAN_AFTER_SECONDS and says it is there on every
pool check (`POST /pool/heartbeat`); claiming the member says so once more, with
`claimed`, and the watch ends for good (the claimed sandbox is then Bay's idle reaper's
to stop). When no heartbeat comes within the time, Ship stops as it does on SIGTERM,
and the container with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)


def _terminate() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


class OrphanWatch:
    def __init__(self, after_seconds: float, stop: Callable[[], None] = _terminate) -> None:
        self.after_seconds = after_seconds
        self._stop = stop
        self._heard = asyncio.Event()
        self.claimed = False

    def heard(self, *, claimed: bool) -> None:
        """Bay is there (and, once `claimed`, the member is a sandbox of its own)."""
        self.claimed = self.claimed or claimed
        self._heard.set()

    async def run(self) -> None:
        while not self.claimed:
            self._heard.clear()
            try:
                async with asyncio.timeout(self.after_seconds):
                    await self._heard.wait()
            except TimeoutError:
                log.warning(
                    "no Bay has claimed or checked this pool member for %g s: it stops",
                    self.after_seconds,
                )
                self._stop()
                return
