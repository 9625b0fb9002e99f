"""The gate of each sandbox's cargo: calls share it, a copy of the cargo has it alone.

Every capability call holds the gate shared (`RuntimeGate.runtime`); a snapshot,
a restore and a fork hold it exclusively (`SnapshotService`). So a copy waits for the
calls in flight, calls that arrive meanwhile wait for the copy, and neither ever sees
half of the other. A copy that waits goes first: calls arriving after it queue behind
it, so a busy sandbox still gets its snapshot. Deleting a sandbox holds it shared but
ahead of waiting copies: it waits for a copy that runs, never for calls.

The gate is per sandbox and in this process only (Bay processes sharing a database
do not see each other's). It is not re-entrant: a call must not ask for it again
while it holds it, or a copy waiting between the two would wait for ever (until its
deadline). Every wait has a deadline and ends in `Timeout`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bay_mcp.errors import Timeout
from bay_mcp.limits import MAX_COPY_S, MAX_TIMEOUT_S
from bay_mcp.managers import Progress, no_progress

# A copy waits at most for the longest call (plus a start); a call for the longest copy.
COPY_WAIT_S = MAX_TIMEOUT_S + 120.0
CALL_WAIT_S = MAX_COPY_S + 60.0


@dataclass
class _State:
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0
    copying: bool = False
    copies_waiting: int = 0
    # Tasks holding or waiting: the state is dropped when none is left.
    users: int = 0

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class SandboxGate:
    def __init__(self, copy_wait_s: float = COPY_WAIT_S, call_wait_s: float = CALL_WAIT_S) -> None:
        self._copy_wait_s = copy_wait_s
        self._call_wait_s = call_wait_s
        self._states: dict[str, _State] = {}

    def calls_in_flight(self, sandbox_id: str) -> int:
        state = self._states.get(sandbox_id)
        return state.calls if state is not None else 0

    def copying(self, sandbox_id: str) -> bool:
        state = self._states.get(sandbox_id)
        return state is not None and state.copying

    @asynccontextmanager
    async def shared(
        self,
        sandbox_id: str,
        progress: Progress = no_progress,
        *,
        ahead_of_waiting_copies: bool = False,
    ) -> AsyncIterator[None]:
        """Hold the gate beside other calls. Waits while a copy runs (or waits, unless
        `ahead_of_waiting_copies`); Timeout after CALL_WAIT_S."""
        state = self._enter(sandbox_id)
        try:

            def free() -> bool:
                return not state.copying and (ahead_of_waiting_copies or not state.copies_waiting)

            if not free():
                await progress(f"waiting for a copy of sandbox {sandbox_id}'s workspace to end")
            await self._wait(
                state,
                free,
                self._call_wait_s,
                lambda: (
                    f"sandbox {sandbox_id} is busy: its workspace has been copied (a "
                    f"snapshot, restore or fork) for more than {self._call_wait_s:g} s; "
                    "retry in a moment"
                ),
            )
            state.calls += 1
            try:
                yield
            finally:
                state.calls -= 1
                state.notify()
        finally:
            self._leave(sandbox_id, state)

    @asynccontextmanager
    async def exclusive(
        self, sandbox_id: str, progress: Progress = no_progress
    ) -> AsyncIterator[None]:
        """Hold the gate alone, once the calls in flight have ended; calls arriving
        meanwhile wait. Timeout after COPY_WAIT_S."""
        state = self._enter(sandbox_id)
        try:

            def free() -> bool:
                return not state.copying and state.calls == 0

            if state.calls:
                await progress(
                    f"waiting for {state.calls} call(s) running on sandbox {sandbox_id} to end"
                )
            state.copies_waiting += 1
            try:
                await self._wait(
                    state,
                    free,
                    self._copy_wait_s,
                    lambda: (
                        f"sandbox {sandbox_id} still has {state.calls} call(s) running "
                        f"after {self._copy_wait_s:g} s: nothing was copied; retry when they "
                        "have ended"
                    ),
                )
            finally:
                state.copies_waiting -= 1
                state.notify()  # calls held back by a copy that gave up may go
            state.copying = True
            try:
                yield
            finally:
                state.copying = False
                state.notify()
        finally:
            self._leave(sandbox_id, state)

    def _enter(self, sandbox_id: str) -> _State:
        state = self._states.setdefault(sandbox_id, _State())
        state.users += 1
        return state

    def _leave(self, sandbox_id: str, state: _State) -> None:
        state.users -= 1
        if state.users == 0 and self._states.get(sandbox_id) is state:
            del self._states[sandbox_id]

    @staticmethod
    async def _wait(
        state: _State, free: Callable[[], bool], limit: float, why: Callable[[], str]
    ) -> None:
        deadline = time.monotonic() + limit
        while not free():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(why())
            changed = state.changed
            # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that
            # arrives as the event is set.
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                continue
