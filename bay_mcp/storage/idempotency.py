"""Idempotency key rows: one per owner and key, claimed by the first request (the
unique constraint decides between two at once), then holding its stored response."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import IdempotencyKey


class IdempotencyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self, owner: str, key: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> bool:
        """Take the key for a request (an expired row of it is replaced); False when a
        live row holds it."""
        async with self._db.session() as db:
            await db.exec(  # expired keys may be reused
                delete(IdempotencyKey).where(
                    col(IdempotencyKey.owner) == owner,
                    col(IdempotencyKey.key) == key,
                    col(IdempotencyKey.expires_at) <= now,
                )
            )
            db.add(
                IdempotencyKey(owner=owner, key=key, fingerprint=fingerprint, expires_at=expires_at)
            )
            try:
                await db.commit()
            except IntegrityError:
                await db.rollback()
                return False
        return True

    async def find(self, owner: str, key: str) -> IdempotencyKey | None:
        async with self._db.session() as db:
            return (
                await db.exec(
                    select(IdempotencyKey).where(
                        IdempotencyKey.owner == owner, IdempotencyKey.key == key
                    )
                )
            ).first()

    async def finish(self, owner: str, key: str, status: int, body: str) -> None:
        """Store the response of the request that holds the key."""
        async with self._db.session() as db:
            row = (
                await db.exec(
                    select(IdempotencyKey).where(
                        IdempotencyKey.owner == owner, IdempotencyKey.key == key
                    )
                )
            ).one()
            row.status = "done"
            row.response_status = status
            row.response_body = body
            db.add(row)
            await db.commit()

    async def forget(self, owner: str, key: str) -> None:
        async with self._db.session() as db:
            await db.exec(
                delete(IdempotencyKey).where(
                    col(IdempotencyKey.owner) == owner, col(IdempotencyKey.key) == key
                )
            )
            await db.commit()
