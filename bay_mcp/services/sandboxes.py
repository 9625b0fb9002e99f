"""Sandboxes, as surfaces and other services use them: one facade over the catalogue
(find, list, view, profiles), the lifecycle (create, fork, TTLs, stop, delete) and the
runtime gate every capability call passes through."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from bay_mcp.adapters.ship_client import ShipEndpoint
from bay_mcp.limits import DEFAULT_PROFILE
from bay_mcp.managers import Progress
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.managers.cargos import CargoManager
from bay_mcp.managers.gate import SandboxGate
from bay_mcp.managers.sessions import SessionManager
from bay_mcp.metrics import Metrics
from bay_mcp.services.changes import Changes
from bay_mcp.services.egress import EgressService
from bay_mcp.services.paging import Page, PageRequest
from bay_mcp.services.runtime_gate import RuntimeGate
from bay_mcp.services.sandbox_catalogue import SandboxCatalogue
from bay_mcp.services.sandbox_inputs import SecretBinding
from bay_mcp.services.sandbox_lifecycle import SandboxLifecycle
from bay_mcp.services.views import ProfileView, SandboxStatus, SandboxView
from bay_mcp.settings import BaySettings, Capability, Profile
from bay_mcp.storage.cargos import CargoRepository
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Cargo, Sandbox, Session
from bay_mcp.storage.sandboxes import SandboxRepository
from ship.egress.rules import EgressPolicy
from ship.protocol import Language


class SandboxService:
    """Wires the three parts over one database; each method is one of theirs."""

    def __init__(
        self,
        db: Database,
        settings: BaySettings,
        sessions: SessionManager,
        cargos: CargoManager,
        activity: ActivityClock,
        metrics: Metrics,
        gate: SandboxGate,
        egress: EgressService,
        changes: Changes | None = None,
    ) -> None:
        # Told of every sandbox made or removed; the services that change a cargo
        # reach it here too.
        self.changes = changes or Changes()
        rows, cargo_rows = SandboxRepository(db), CargoRepository(db)
        self.catalogue = SandboxCatalogue(rows, cargo_rows, settings, activity)
        self.lifecycle = SandboxLifecycle(
            self.catalogue,
            rows,
            cargo_rows,
            settings,
            sessions,
            cargos,
            activity,
            metrics,
            gate,
            egress,
        )
        self.runtime_gate = RuntimeGate(self.catalogue, sessions, activity, gate)
        # Set by every claim (hit or miss): the warm pool's refill waits on it.
        self.pool_drained = self.lifecycle.pool_drained

    # -- the catalogue --------------------------------------------------------------

    def profiles(self) -> list[ProfileView]:
        return self.catalogue.profiles()

    async def get(self, owner: str, sandbox_id: str) -> SandboxView:
        return await self.catalogue.get(owner, sandbox_id)

    async def check_owner(self, owner: str, sandbox_id: str) -> None:
        await self.catalogue.check_owner(owner, sandbox_id)

    async def live_among(self, sandbox_ids: list[str], owner: str | None) -> list[str]:
        return await self.catalogue.live_among(sandbox_ids, owner)

    async def ids_newest_first(self, owner: str, prefix: str, fetch: int) -> list[str]:
        return await self.catalogue.ids_newest_first(owner, prefix, fetch)

    async def acting_owner(self, caller: str, is_admin: bool, sandbox_id: str) -> str:
        return await self.catalogue.acting_owner(caller, is_admin, sandbox_id)

    async def list_owned(
        self, owner: str | None, status: SandboxStatus | None, page: PageRequest | None
    ) -> Page[tuple[str, SandboxView]]:
        return await self.catalogue.list_owned(owner, status, page)

    async def view(self, sandbox: Sandbox) -> SandboxView:
        return await self.catalogue.view(sandbox)

    async def count_by_status(self) -> dict[str, int]:
        return await self.catalogue.count_by_status()

    async def pool_members(self) -> list[tuple[Sandbox, Session | None]]:
        return await self.catalogue.pool_members()

    async def upload_limit_bytes(self, owner: str, sandbox_id: str) -> int | None:
        return await self.catalogue.upload_limit_bytes(owner, sandbox_id)

    # Last of the catalogue: below it, `list` in an annotation names this method.
    async def list(
        self, owner: str, status: SandboxStatus | None = None, page: PageRequest | None = None
    ) -> Page[SandboxView]:
        return await self.catalogue.list(owner, status, page)

    # -- the lifecycle --------------------------------------------------------------

    async def create(
        self,
        owner: str,
        *,
        profile: str = DEFAULT_PROFILE,
        ttl_seconds: int | None = None,
        cargo_id: str | None = None,
        env: dict[str, str] | None = None,
        egress: EgressPolicy | None = None,
        secrets: Sequence[SecretBinding] = (),
    ) -> SandboxView:
        made = await self.lifecycle.create(
            owner,
            profile=profile,
            ttl_seconds=ttl_seconds,
            cargo_id=cargo_id,
            env=env,
            egress=egress,
            secrets=secrets,
        )
        await self.changes.sandboxes(owner)
        return made

    async def create_fork(self, source: Sandbox) -> Sandbox:
        forked = await self.lifecycle.create_fork(source)
        await self.changes.sandboxes(forked.owner)
        return forked

    async def create_pool_member(self, profile: Profile) -> Sandbox:
        return await self.lifecycle.create_pool_member(profile)

    async def pool_heartbeat(self, sandbox_id: str) -> None:
        await self.lifecycle.pool_heartbeat(sandbox_id)

    async def retire_pool_member(self, sandbox: Sandbox) -> bool:
        return await self.lifecycle.retire_pool_member(sandbox)

    async def settle(self) -> None:
        await self.lifecycle.settle()

    async def stop(self, owner: str, sandbox_id: str) -> None:
        await self.lifecycle.stop(owner, sandbox_id)

    async def delete(self, owner: str, sandbox_id: str) -> None:
        await self.lifecycle.delete(owner, sandbox_id)
        await self.changes.sandboxes(owner)

    async def remove(self, sandbox: Sandbox) -> None:
        await self.lifecycle.remove(sandbox)
        await self.changes.sandboxes(sandbox.owner)

    async def extend_ttl(self, owner: str, sandbox_id: str, seconds: int) -> SandboxView:
        return await self.lifecycle.extend_ttl(owner, sandbox_id, seconds)

    async def keepalive(self, owner: str, sandbox_id: str) -> None:
        await self.lifecycle.keepalive(owner, sandbox_id)

    # -- the runtime gate -----------------------------------------------------------

    def runtime(
        self,
        owner: str,
        sandbox_id: str,
        capability: Capability,
        progress: Progress,
        language: Language | None = None,
    ) -> AbstractAsyncContextManager[ShipEndpoint]:
        return self.runtime_gate.runtime(owner, sandbox_id, capability, progress, language)

    async def for_copy(self, owner: str, sandbox_id: str) -> tuple[Sandbox, Cargo, Profile]:
        return await self.runtime_gate.for_copy(owner, sandbox_id)
