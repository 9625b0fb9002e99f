"""External cargos: volumes created on their own, attachable to sandboxes, kept when
those sandboxes are deleted."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bay_mcp.errors import Conflict, NotFound, ValidationFailed
from bay_mcp.limits import MAX_CARGO_SIZE_MB
from bay_mcp.managers.cargos import CargoManager
from bay_mcp.services.paging import Page, PageRequest, cut, window
from bay_mcp.storage.cargos import CargoRepository
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Cargo


class CargoView(BaseModel):
    id: str
    managed: bool
    managed_by_sandbox_id: str | None
    backend: str
    size_limit_mb: int | None
    created_at: datetime
    last_accessed_at: datetime


def cargo_view(cargo: Cargo) -> CargoView:
    return CargoView(
        id=cargo.id,
        managed=cargo.managed,
        managed_by_sandbox_id=cargo.managed_by_sandbox_id,
        backend=cargo.backend,
        size_limit_mb=cargo.size_limit_mb,
        created_at=cargo.created_at,
        last_accessed_at=cargo.last_accessed_at,
    )


class CargoService:
    def __init__(self, db: Database, cargos: CargoManager) -> None:
        self._rows = CargoRepository(db)
        self._cargos = cargos

    async def create(self, owner: str, size_limit_mb: int | None = None) -> CargoView:
        if size_limit_mb is not None and not 1 <= size_limit_mb <= MAX_CARGO_SIZE_MB:
            raise ValidationFailed(
                f"size_limit_mb must be between 1 and {MAX_CARGO_SIZE_MB}",
                {"fields": ["size_limit_mb"]},
            )
        cargo = await self._cargos.create(
            owner=owner, managed_by_sandbox_id=None, size_limit_mb=size_limit_mb
        )
        try:
            await self._rows.insert(cargo)
        except BaseException:
            await self._cargos.discard(cargo)
            raise
        return cargo_view(cargo)

    async def _row(self, owner: str, cargo_id: str) -> Cargo:
        cargo = await self._rows.get(cargo_id)
        if cargo is None or cargo.owner != owner:
            raise NotFound(f"cargo {cargo_id} not found")
        return cargo

    async def get(self, owner: str, cargo_id: str) -> CargoView:
        return cargo_view(await self._row(owner, cargo_id))

    async def list(
        self, owner: str, managed: bool = False, page: PageRequest | None = None
    ) -> Page[CargoView]:
        """The owner's cargos (external ones unless `managed`), oldest first, paged in
        the query."""
        rows = await self._rows.page(owner, managed, *window(page))
        kept, next_cursor = cut(rows, page, lambda row: (row.created_at, row.id))
        return Page(items=[cargo_view(row) for row in kept], next_cursor=next_cursor)

    async def delete(self, owner: str, cargo_id: str) -> None:
        """Delete an external cargo and its volume; 409 while a live sandbox uses it."""
        cargo = await self._row(owner, cargo_id)
        users = await self._rows.users(cargo_id)
        if users:
            raise Conflict(
                f"cargo {cargo_id} is in use by {len(users)} sandbox(es); delete them first",
                {"active_sandbox_ids": users},
            )
        if cargo.managed:
            raise Conflict(
                f"cargo {cargo_id} belongs to sandbox {cargo.managed_by_sandbox_id}: "
                "it is deleted with that sandbox",
                {"active_sandbox_ids": [cargo.managed_by_sandbox_id]},
            )
        await self._rows.delete(cargo_id, lambda: self._cargos.discard(cargo))
