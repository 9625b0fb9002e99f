"""The runtime gate every capability call passes: owner, expiry and capability, then a
running session, held while the call uses it (with the sandbox's gate of
managers/gate.py, which a copy of its workspace holds alone)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bay_mcp.adapters.ship_client import ShipEndpoint
from bay_mcp.errors import CapabilityNotSupported, NotFound, SandboxExpired, Timeout
from bay_mcp.logs import about, sandbox_var
from bay_mcp.managers import Progress
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.managers.gate import SandboxGate
from bay_mcp.managers.sessions import SessionManager, StartContext
from bay_mcp.services.sandbox_catalogue import SandboxCatalogue
from bay_mcp.settings import Capability, Profile
from bay_mcp.storage.models import Cargo, Sandbox, utcnow
from ship.protocol import Language

UNRESPONSIVE = (
    "its runtime does not answer at all (frozen, hung or out of memory): the sandbox's "
    "next call starts a new session, its files kept and its memory lost"
)


def check_unexpired(sandbox: Sandbox) -> None:
    if sandbox.expires_at is not None and sandbox.expires_at <= utcnow():
        raise SandboxExpired(
            f"sandbox {sandbox.id} expired at {sandbox.expires_at.isoformat()}; "
            "create a new one with create_sandbox"
        )


class RuntimeGate:
    def __init__(
        self,
        catalogue: SandboxCatalogue,
        sessions: SessionManager,
        activity: ActivityClock,
        gate: SandboxGate,
    ) -> None:
        self._catalogue = catalogue
        self._sessions = sessions
        self._activity = activity
        self._gate = gate

    @asynccontextmanager
    async def runtime(
        self,
        owner: str,
        sandbox_id: str,
        capability: Capability,
        progress: Progress,
        language: Language | None = None,
    ) -> AsyncIterator[ShipEndpoint]:
        """Check owner, expiry and capability (and the language of a code run); start
        the session if needed; hold it (the reaper leaves it alone) while the caller
        uses the endpoint. The call holds the sandbox's gate shared (managers/gate.py):
        it waits for a copy of the workspace under way, and a copy waits for it."""
        async with self._gate.shared(sandbox_id, progress):
            sandbox, cargo, session = await self._catalogue.row_for_a_call(owner, sandbox_id)
            check_unexpired(sandbox)
            profile = self._catalogue.profile(sandbox.profile)
            if capability not in profile.capabilities:
                raise CapabilityNotSupported(
                    f"sandbox {sandbox_id} (profile {profile.id}) has no {capability} "
                    f"capability; it offers {list(profile.capabilities)}",
                    {"capability": capability, "available": list(profile.capabilities)},
                )
            if language is not None and language not in profile.languages:
                raise self._no_language(sandbox_id, profile, language)
            if cargo is None:
                raise NotFound(f"the cargo {sandbox.cargo_id} of sandbox {sandbox_id} is gone")
            async with self._sessions.using(sandbox.id):
                with about(sandbox_var, sandbox.id):  # log lines of this call name the sandbox
                    self._activity.touch(sandbox.id)
                    endpoint = await self._sessions.ensure_running(
                        StartContext(
                            sandbox=sandbox,
                            profile=profile,
                            volume=cargo.driver_ref,
                            size_limit_mb=cargo.size_limit_mb,
                        ),
                        progress,
                        known=session,
                    )
                    try:
                        yield endpoint
                    except Timeout as exc:
                        if await self._sessions.unresponsive(sandbox.id, endpoint):
                            raise Timeout(f"{exc.message}; {UNRESPONSIVE}", exc.details) from exc
                        raise
                    self._activity.touch(sandbox.id)  # the idle timer counts from a call's end

    def _no_language(
        self, sandbox_id: str, profile: Profile, language: Language
    ) -> CapabilityNotSupported:
        elsewhere = self._catalogue.with_language(language)
        where = (
            f"create a sandbox with profile {' or '.join(elsewhere)} for it"
            if elsewhere
            else "no profile of this Bay runs it"
        )
        return CapabilityNotSupported(
            f"sandbox {sandbox_id} (profile {profile.id}) does not run {language}: its "
            f"image runs {', '.join(profile.languages)}; {where}",
            {
                "capability": language,
                "available": list(profile.languages),
                "profiles": elsewhere,
            },
        )

    async def for_copy(self, owner: str, sandbox_id: str) -> tuple[Sandbox, Cargo, Profile]:
        """The caller's live, unexpired sandbox with its cargo and profile, for a copy of
        its workspace (read under the gate). NotFound, SandboxExpired."""
        sandbox, cargo, _ = await self._catalogue.row_for_a_call(owner, sandbox_id)
        check_unexpired(sandbox)
        if cargo is None:
            raise NotFound(f"the cargo {sandbox.cargo_id} of sandbox {sandbox_id} is gone")
        return sandbox, cargo, self._catalogue.profile(sandbox.profile)
