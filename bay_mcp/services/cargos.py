"""External cargos: volumes created on their own, attachable to sandboxes, kept when
those sandboxes are deleted."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import col, select

from bay_mcp.errors import Conflict, NotFound, ValidationFailed
from bay_mcp.limits import MAX_CARGO_SIZE_MB
from bay_mcp.managers.cargos import CargoManager
from bay_mcp.services.paging import Page, PageRequest, cut, paged
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Cargo, Sandbox


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
        self._db = db
        self._cargos = cargos

    async def create(self, owner: str, size_limit_mb: int | None = None) -> CargoView:
        if size_limit_mb is not None and not 1 <= size_limit_mb <= MAX_CARGO_SIZE_MB:
            raise ValidationFailed(
                f"size_limit_mb must be between 1 and {MAX_CARGO_SIZE_MB}",
                {"fields": ["size_limit_mb"]},
            )
        async with self._db.session() as db:
            cargo = await self._cargos.create(
                db, owner=owner, managed_by_sandbox_id=None, size_limit_mb=size_limit_mb
            )
            try:
                await db.commit()
            except BaseException:
                await self._cargos.discard(cargo)
                raise
        return cargo_view(cargo)

    async def _row(self, owner: str, cargo_id: str) -> Cargo:
        async with self._db.session() as db:
            cargo = await db.get(Cargo, cargo_id)
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
        query = paged(
            select(Cargo).where(col(Cargo.owner) == owner, col(Cargo.managed) == managed),
            col(Cargo.created_at),
            col(Cargo.id),
            page,
        )
        async with self._db.session() as db:
            rows = list((await db.exec(query)).all())
        kept, next_cursor = cut(rows, page, lambda row: (row.created_at, row.id))
        return Page(items=[cargo_view(row) for row in kept], next_cursor=next_cursor)

    async def delete(self, owner: str, cargo_id: str) -> None:
        """Delete an external cargo and its volume; 409 while a live sandbox uses it."""
        cargo = await self._row(owner, cargo_id)
        async with self._db.session() as db:
            users = (
                await db.exec(
                    select(Sandbox.id).where(
                        Sandbox.cargo_id == cargo_id, col(Sandbox.deleted_at).is_(None)
                    )
                )
            ).all()
            if users:
                raise Conflict(
                    f"cargo {cargo_id} is in use by {len(users)} sandbox(es); delete them first",
                    {"active_sandbox_ids": list(users)},
                )
            if cargo.managed:
                raise Conflict(
                    f"cargo {cargo_id} belongs to sandbox {cargo.managed_by_sandbox_id}: "
                    "it is deleted with that sandbox",
                    {"active_sandbox_ids": [cargo.managed_by_sandbox_id]},
                )
            row = await db.get(Cargo, cargo_id)
            assert row is not None
            await db.delete(row)
            await self._cargos.discard(cargo)
            await db.commit()
