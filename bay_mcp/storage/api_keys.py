"""API key rows: stored hashed, found by their hash on every keyed request (the warm
call's cheap read, row_reads.py), listed, revoked, stamped when used."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy import exists as sql_exists
from sqlalchemy import select as sql_select
from sqlmodel import col, select

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import ApiKey
from bay_mcp.storage.row_reads import columns_of, model_from

_KEY_COLUMNS = columns_of(ApiKey)
_KEY_BY_HASH = sql_select(*_KEY_COLUMNS).where(col(ApiKey.key_hash) == bindparam("key_hash"))
_ANY_KEY = sql_select(sql_exists().where(col(ApiKey.id).is_not(None)))


def _key_of(values: Sequence[Any]) -> ApiKey:
    return model_from(ApiKey, _KEY_COLUMNS, values)


def _first_value(values: Sequence[Any]) -> Any:
    return values[0]


class ApiKeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def any_exist(self) -> bool:
        """Whether any key row exists (revoked and expired ones count)."""
        return bool(await self._db.first(_ANY_KEY, {}, _first_value))

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash. The model is shared with other calls while the row
        stays the same: read it, never change it."""
        return await self._db.first(_KEY_BY_HASH, {"key_hash": key_hash}, _key_of)

    async def unrevoked(self) -> Sequence[ApiKey]:
        async with self._db.session() as db:
            return (await db.exec(select(ApiKey).where(col(ApiKey.revoked_at).is_(None)))).all()

    async def insert(self, key: ApiKey) -> None:
        async with self._db.session() as db:
            db.add(key)
            await db.commit()

    async def all(self) -> Sequence[ApiKey]:
        """Every key, oldest first."""
        async with self._db.session() as db:
            return (await db.exec(select(ApiKey).order_by(col(ApiKey.created_at)))).all()

    async def revoke(self, key_id: str, now: datetime) -> tuple[ApiKey | None, bool]:
        """The key, revoked at `now` unless it was already; and whether this call did it.
        (None, False) when there is no such key."""
        async with self._db.session() as db:
            row = await db.get(ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                return row, False
            row.revoked_at = now
            db.add(row)
            await db.commit()
        return row, True

    async def mark_used(self, key_id: str, now: datetime) -> None:
        async with self._db.session() as db:
            await db.exec(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=now))
            await db.commit()
