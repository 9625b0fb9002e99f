"""Secrets of the installation, kept in the database: every Bay process sharing it
(replicas, or a stdio and an HTTP server on one data directory) uses the same one."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import StoredSecret


async def stored_secret(db: Database, name: str) -> bytes:
    """The secret `name` (32 random bytes), made on first use."""
    return await stored_value(db, name, lambda: secrets.token_bytes(32))


async def stored_value(db: Database, name: str, make: Callable[[], bytes]) -> bytes:
    """The secret `name`, made by `make` on first use; of two processes making it at
    once, the primary key keeps one and both read it."""
    async with db.session() as session:
        found = await session.get(StoredSecret, name)
        if found is not None:
            return bytes.fromhex(found.value)
        session.add(StoredSecret(name=name, value=make().hex()))
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
    async with db.session() as session:
        stored = await session.get(StoredSecret, name)
    assert stored is not None
    return bytes.fromhex(stored.value)
