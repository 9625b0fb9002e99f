"""Owner secret rows: one owner's, by name; the values stay sealed here (the service
seals and opens them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import OwnerSecret


class OwnerSecretRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(self, owner: str, name: str) -> OwnerSecret | None:
        async with self._db.session() as db:
            return await db.get(OwnerSecret, (owner, name))

    async def all(self, owner: str) -> Sequence[OwnerSecret]:
        """The owner's secrets, by name."""
        async with self._db.session() as db:
            return (
                await db.exec(
                    select(OwnerSecret)
                    .where(col(OwnerSecret.owner) == owner)
                    .order_by(col(OwnerSecret.name))
                )
            ).all()

    async def named(self, owner: str, names: Sequence[str]) -> Sequence[OwnerSecret]:
        async with self._db.session() as db:
            return (
                await db.exec(
                    select(OwnerSecret).where(
                        col(OwnerSecret.owner) == owner, col(OwnerSecret.name).in_(list(names))
                    )
                )
            ).all()

    async def count(self, owner: str) -> int:
        async with self._db.session() as db:
            total = (
                await db.exec(
                    select(func.count())
                    .select_from(OwnerSecret)
                    .where(col(OwnerSecret.owner) == owner)
                )
            ).one()
        return int(total)

    async def insert(self, row: OwnerSecret) -> None:
        """Add a new secret; IntegrityError when the owner already has one so named."""
        async with self._db.session() as db:
            db.add(row)
            await db.commit()

    async def replace(self, owner: str, name: str, ciphertext: bytes, now: datetime) -> bool:
        """Give an existing secret a new value; False when there is none so named."""
        async with self._db.session() as db:
            result = await db.exec(
                update(OwnerSecret)
                .where(col(OwnerSecret.owner) == owner, col(OwnerSecret.name) == name)
                .values(ciphertext=ciphertext, updated_at=now)
            )
            await db.commit()
        return bool(result.rowcount)

    async def delete(self, owner: str, name: str) -> bool:
        """Remove a secret; False when there was none so named."""
        async with self._db.session() as db:
            result = await db.exec(
                delete(OwnerSecret).where(
                    col(OwnerSecret.owner) == owner, col(OwnerSecret.name) == name
                )
            )
            await db.commit()
        return bool(result.rowcount)
