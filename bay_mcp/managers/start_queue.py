"""The start queue: at most `max_concurrent_starts` sandbox starts at once in this
process, the others served in the order they arrived, users' starts before the warm
pool's.

Starts are CPU-bound (a Python server and a kernel booting): a few at a time finish
sooner than all at once, and leave running sandboxes their share. asyncio.Semaphore
would bound them, and the one of the Python we run (3.11.7) serves waiters in order
and passes on the turn of one cancelled as it came; but it knows no priority: a pool
refill queued first would start before a user who came after it. This queue states
both rules itself: each kind waits in a FIFO, a freed slot goes to the oldest waiting
user, else to the oldest waiting pool start, and a waiter cancelled as its turn came
passes the slot on.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class StartQueue:
    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a start queue needs at least one slot")
        self.slots = slots
        self._free = slots
        self._users: deque[asyncio.Future[None]] = deque()
        self._pool: deque[asyncio.Future[None]] = deque()

    def full(self) -> bool:
        """Whether a user's start would wait now."""
        return self._free == 0 or bool(self._users)

    @property
    def waiting(self) -> int:
        return len(self._users) + len(self._pool)

    @asynccontextmanager
    async def turn(self, *, pool: bool = False) -> AsyncIterator[None]:
        """Hold one start slot for the block, once every start queued before (and, for
        the pool, every user's) has had its turn."""
        await self._acquire(pool)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, pool: bool) -> None:
        ahead = self._users if not pool else (self._users or self._pool)
        if self._free > 0 and not ahead:
            self._free -= 1
            return
        line = self._pool if pool else self._users
        turn = asyncio.get_running_loop().create_future()
        line.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # given the slot as it was cancelled: pass it on
            elif turn in line:  # (a release may have dropped it already)
                line.remove(turn)
            raise

    def _release(self) -> None:
        self._free += 1
        while self._free > 0 and (self._users or self._pool):
            turn = (self._users or self._pool).popleft()
            if not turn.done():
                self._free -= 1
                turn.set_result(None)
