"""The admin API's operations: garbage collection on demand and its status, for the
owners named in BAY_ADMIN_OWNERS only."""

from __future__ import annotations

import logging

from bay_mcp.services.keys import AccessPolicy
from bay_mcp.services.reaper import GcStatus, Reaper, RunReport
from bay_mcp.settings import GcTaskName

log = logging.getLogger(__name__)


class AdminService:
    def __init__(self, access: AccessPolicy, reaper: Reaper) -> None:
        self._access = access
        self._reaper = reaper

    async def run_gc(self, owner: str, tasks: list[GcTaskName] | None) -> RunReport:
        """Run the reaper now; Forbidden for non-admins, Conflict (423) while it runs."""
        self._access.require_admin(owner)
        log.info("owner %s runs garbage collection (%s)", owner, ", ".join(tasks or ["all"]))
        return await self._reaper.run(tasks)

    def gc_status(self, owner: str) -> GcStatus:
        self._access.require_admin(owner)
        return self._reaper.status()
