"""Console session rows: found by the hash of the cookie's token on every console
request, made at sign-in, deleted at sign-out or when expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import ConsoleSession


class ConsoleSessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, session_id: str) -> ConsoleSession | None:
        async with self._db.session() as db:
            return await db.get(ConsoleSession, session_id)

    async def insert(self, row: ConsoleSession, now: datetime) -> None:
        """Store `row`, dropping expired sessions in the same transaction (sign-ins are
        rare, so they keep the table small)."""
        async with self._db.session() as db:
            await db.exec(delete(ConsoleSession).where(col(ConsoleSession.expires_at) <= now))
            db.add(row)
            await db.commit()

    async def remove(self, session_id: str) -> None:
        async with self._db.session() as db:
            await db.exec(delete(ConsoleSession).where(col(ConsoleSession.id) == session_id))
            await db.commit()
