"""A running session's states besides ready: paused by Bay when idle (frozen, memory
kept, thawed by the next call) and unhealthy (its runtime stopped answering: replaced by
the next call, files kept, memory lost). The session manager calls these under the
sandbox's lock."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from bay_mcp.adapters.ship_client import ShipClient, ShipEndpoint
from bay_mcp.drivers import Driver
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.metrics import Metrics
from bay_mcp.storage.models import Session, utcnow
from bay_mcp.storage.sandboxes import SandboxRepository
from bay_mcp.storage.sessions import SessionRepository

log = logging.getLogger(__name__)

REPLACED_NOTICE = (
    "the sandbox's previous session stopped answering and was replaced: its files are "
    "kept, its memory (variables, processes) is not"
)


class SessionStates:
    def __init__(
        self,
        rows: SessionRepository,
        sandboxes: SandboxRepository,
        driver: Driver,
        ship: ShipClient,
        activity: ActivityClock,
        metrics: Metrics,
    ) -> None:
        self._rows = rows
        self._sandboxes = sandboxes
        self._driver = driver
        self._ship = ship
        self._activity = activity
        self._metrics = metrics

    async def _set(self, session: Session, state: str, **values: object) -> None:
        changes = {"observed_state": state, "updated_at": utcnow(), **values}
        if await self._rows.update(session.id, changes):
            for key, value in changes.items():
                setattr(session, key, value)

    async def pause_if_idle(self, sandbox_id: str, idle_before: datetime) -> bool:
        sandbox, sessions = await self._rows.sandbox_and_sessions(sandbox_id)
        if sandbox is None or len(sessions) != 1:
            return False
        if self._activity.last_active(sandbox_id, sandbox.last_active_at) >= idle_before:
            return False
        session = sessions[0]
        if session.observed_state != "ready" or not session.container_id:
            return False
        started = time.monotonic()
        await self._driver.pause_container(session.container_id)
        await self._set(session, "paused")
        self._metrics.pauses.labels(action="pause").observe(time.monotonic() - started)
        return True

    async def thaw(self, session: Session) -> None:
        assert session.container_id is not None
        started = time.monotonic()
        # The row first: a thaw that fails leaves it ready, and the next call's check
        # finds the container (running, or gone and started anew).
        await self._set(session, "ready")
        await self._driver.unpause_container(session.container_id)
        self._metrics.pauses.labels(action="thaw").observe(time.monotonic() - started)
        log.info("sandbox %s: thawed its paused session", session.sandbox_id)

    async def unresponsive(self, sandbox_id: str, endpoint: ShipEndpoint) -> bool:
        if await self._ship.answers(endpoint):
            return False  # slow, not gone: its memory stays
        session = await self._rows.latest(sandbox_id)
        if session is None or session.id != endpoint.session_id:
            return False  # replaced meanwhile
        if session.container_id and session.observed_state == "paused":
            await self.thaw(session)  # Bay froze it: thawed, nothing lost
            return False
        await self._set(session, "unhealthy", last_error="its runtime stopped answering")
        log.warning(
            "sandbox %s: session %s does not answer: marked unhealthy, replaced by the next call",
            sandbox_id,
            session.id,
        )
        return True
