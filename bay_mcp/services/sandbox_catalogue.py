"""The sandbox catalogue: profiles, and finding, listing and viewing an owner's
sandboxes (the owner check every sandbox call starts with)."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from bay_mcp.errors import NotFound, ValidationFailed
from bay_mcp.limits import MB, POOL_OWNER
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.services.paging import Page, PageRequest, cut, window
from bay_mcp.services.views import (
    BoundSecret,
    ContainerView,
    ProfileView,
    SandboxStatus,
    SandboxView,
)
from bay_mcp.settings import BaySettings, Profile
from bay_mcp.storage.cargos import CargoRepository
from bay_mcp.storage.models import Sandbox, Session, utcnow
from bay_mcp.storage.sandboxes import CallRow, SandboxRepository, SandboxRow
from ship.egress.rules import EgressPolicy


def live_row(sandbox: Sandbox | None, owner: str, sandbox_id: str) -> Sandbox:
    """`sandbox` if it is a live sandbox of `owner`; NotFound for unknown, another
    owner's, or deleted."""
    if sandbox is None or sandbox.owner != owner:
        raise NotFound(
            f"sandbox {sandbox_id} not found: check the id (list_sandboxes shows yours) "
            "or create one with create_sandbox"
        )
    if sandbox.deleted_at is not None:
        raise NotFound(f"sandbox {sandbox_id} was deleted; create a new one with create_sandbox")
    return sandbox


def profile_view(profile: Profile) -> ProfileView:
    return ProfileView(
        id=profile.id,
        image=profile.image,
        cpus=profile.cpus,
        memory_mb=profile.memory_mb,
        capabilities=list(profile.capabilities),
        languages=list(profile.languages),
        idle_timeout_seconds=profile.idle_timeout_seconds,
        description=profile.description,
        egress=profile.egress_policy,
    )


class SandboxCatalogue:
    def __init__(
        self,
        sandboxes: SandboxRepository,
        cargos: CargoRepository,
        settings: BaySettings,
        activity: ActivityClock,
    ) -> None:
        self._rows = sandboxes
        self._cargo_rows = cargos
        self._settings = settings
        self._activity = activity

    # -- profiles -------------------------------------------------------------------

    def profiles(self) -> list[ProfileView]:
        return [profile_view(profile) for profile in self._settings.profiles]

    def with_language(self, language: str) -> list[str]:
        """The profiles whose sandboxes run `language` (and run code at all)."""
        return [
            profile.id
            for profile in self._settings.profiles
            if language in profile.languages and "python" in profile.capabilities
        ]

    def profile(self, profile_id: str) -> Profile:
        """The profile; ValidationFailed naming the known ones when there is none."""
        profile = self._settings.profile(profile_id)
        if profile is None:
            known = [p.id for p in self._settings.profiles]
            raise ValidationFailed(
                f"unknown profile {profile_id!r}: use one of {known} (list_profiles shows them)",
                {"fields": ["profile"], "available": known},
            )
        return profile

    # -- lookups --------------------------------------------------------------------

    async def row(self, owner: str, sandbox_id: str) -> Sandbox:
        """The caller's live sandbox; NotFound for unknown, another owner's, or deleted."""
        return live_row(await self._rows.get(sandbox_id), owner, sandbox_id)

    async def row_for_a_call(self, owner: str, sandbox_id: str) -> CallRow:
        """The caller's live sandbox with its cargo and latest session: a call's one read.
        The models are shared with other calls while the row stays the same: read them,
        never change them."""
        row = await self._rows.for_a_call(sandbox_id)
        sandbox, cargo, session = row if row is not None else (None, None, None)
        return live_row(sandbox, owner, sandbox_id), cargo, session

    async def owner_of(self, sandbox_id: str) -> str:
        """Whose live sandbox this is."""
        sandbox = await self._rows.get(sandbox_id)
        if sandbox is None or sandbox.owner == POOL_OWNER:
            raise NotFound(f"sandbox {sandbox_id} not found: check the id")
        return live_row(sandbox, sandbox.owner, sandbox_id).owner

    async def acting_owner(self, caller: str, is_admin: bool, sandbox_id: str) -> str:
        """The owner a caller acts as on `sandbox_id`: an admin as the sandbox's owner
        (as an admin's `X-Owner` does over REST; NotFound when there is none), anyone
        else as themselves (the call that follows checks that they own it)."""
        return await self.owner_of(sandbox_id) if is_admin else caller

    async def live_among(self, sandbox_ids: list[str], owner: str | None) -> list[str]:
        """Which of these are live sandboxes of `owner` (None: of any owner)."""
        return await self._rows.live_among(sandbox_ids, owner)

    async def ids_newest_first(self, owner: str, prefix: str, fetch: int) -> list[str]:
        """The ids of the owner's usable sandboxes starting with `prefix`, newest
        first, at most `fetch`."""
        return await self._rows.ids_newest_first(owner, prefix, utcnow(), fetch)

    async def check_owner(self, owner: str, sandbox_id: str) -> None:
        """NotFound unless `sandbox_id` is a live sandbox of `owner`."""
        await self.row(owner, sandbox_id)

    async def get(self, owner: str, sandbox_id: str) -> SandboxView:
        return await self.view(await self.row(owner, sandbox_id), with_containers=True)

    async def count_by_status(self) -> dict[str, int]:
        """Live sandboxes of every owner, by status (for the metrics)."""
        return await self._rows.count_by_status(utcnow())

    async def pool_members(self) -> list[tuple[Sandbox, Session | None]]:
        """Every live warm pool member with its latest session."""
        return await self._rows.pool_members(utcnow())

    async def upload_limit_bytes(self, owner: str, sandbox_id: str) -> int | None:
        """The largest upload the sandbox takes: its profile's max_upload_mb, else its
        cargo's size limit; None when neither is set."""
        sandbox = await self.row(owner, sandbox_id)
        profile = self.profile(sandbox.profile)
        if profile.max_upload_mb is not None:
            return profile.max_upload_mb * MB
        cargo = await self._cargo_rows.get(sandbox.cargo_id)
        if cargo is None or cargo.size_limit_mb is None:
            return None
        return cargo.size_limit_mb * MB

    # -- views ----------------------------------------------------------------------

    async def view(self, sandbox: Sandbox, *, with_containers: bool = False) -> SandboxView:
        """The live sandbox as a caller sees it now."""
        row, session, status = await self._rows.with_status(sandbox.id, utcnow())
        return self._view(row, session, status, with_containers=with_containers)

    def view_of(self, row: SandboxRow) -> SandboxView:
        """The view of a sandbox just read with its latest session and status (a claim
        reads them in its own transaction): no read of its own."""
        sandbox, session, status = row
        return self._view(sandbox, session, status)

    def _view(
        self,
        sandbox: Sandbox,
        session: Session | None,
        status: str,
        *,
        with_containers: bool = False,
    ) -> SandboxView:
        profile = self._settings.profile(sandbox.profile)
        capabilities = list(profile.capabilities) if profile else []
        idle_expires_at = None
        if session is not None and profile is not None:
            last_active = self._activity.last_active(sandbox.id, sandbox.last_active_at)
            idle_expires_at = last_active + timedelta(seconds=profile.idle_timeout_seconds)
        containers: list[ContainerView] | None = None
        if with_containers and session is not None:
            containers = [
                ContainerView(
                    name=f"bay-{session.id}",
                    runtime_type=session.runtime_type,
                    status=session.observed_state,
                    capabilities=capabilities,
                    version=session.runtime_version,
                    healthy=session.observed_state == "ready",
                )
            ]
        return SandboxView(
            id=sandbox.id,
            status=cast(SandboxStatus, status),  # one of status_of's values
            profile=sandbox.profile,
            cargo_id=sandbox.cargo_id,
            capabilities=capabilities,
            created_at=sandbox.created_at,
            expires_at=sandbox.expires_at,
            idle_expires_at=idle_expires_at,
            env=sorted({*(profile.env if profile else {}), *sandbox.env}),
            egress=(
                EgressPolicy.model_validate(sandbox.egress)
                if sandbox.egress is not None
                else (profile.egress_policy if profile else EgressPolicy())
            ),
            secrets=[
                BoundSecret(secret=bound["secret"], env=bound["env"], hosts=bound["hosts"])
                for bound in sandbox.secret_bindings
            ],
            last_stop=sandbox.last_stop,
            containers=containers,
        )

    # Last: below it, `list` in an annotation would name this method.
    async def list(
        self, owner: str, status: SandboxStatus | None = None, page: PageRequest | None = None
    ) -> Page[SandboxView]:
        """The owner's live sandboxes, oldest first; one query, paged in it."""
        owned = await self.list_owned(owner, status, page)
        return Page(items=[view for _, view in owned.items], next_cursor=owned.next_cursor)

    async def list_owned(
        self, owner: str | None, status: SandboxStatus | None, page: PageRequest | None
    ) -> Page[tuple[str, SandboxView]]:
        """`list` with each sandbox's owner; None lists every owner's (for an admin's
        console; the pool's members aside)."""
        rows = await self._rows.page(owner, utcnow(), status, *window(page))
        kept, next_cursor = cut(rows, page, lambda row: (row[0].created_at, row[0].id))
        return Page(
            items=[
                (sandbox.owner, self._view(sandbox, session, state))
                for sandbox, session, state in kept
            ],
            next_cursor=next_cursor,
        )
