"""Idempotency key rows: one per owner and key, claimed by the first request (the
unique constraint decides between two at once), then holding its stored response."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Update, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session as SyncSession
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
        live row holds it. One hand-off to the database: it is on the request's path."""
        row = IdempotencyKey(owner=owner, key=key, fingerprint=fingerprint, expires_at=expires_at)
        return await self._db.write_behind(lambda db: _claim(db, row, now))

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
        done = (
            update(IdempotencyKey)
            .where(col(IdempotencyKey.owner) == owner, col(IdempotencyKey.key) == key)
            .values(status="done", response_status=status, response_body=body)
        )
        await self._db.write_behind(lambda db: _run_and_commit(db, done))

    async def forget(self, owner: str, key: str) -> None:
        async with self._db.session() as db:
            await db.exec(
                delete(IdempotencyKey).where(
                    col(IdempotencyKey.owner) == owner, col(IdempotencyKey.key) == key
                )
            )
            await db.commit()


def _claim(db: SyncSession, row: IdempotencyKey, now: datetime) -> bool:
    db.exec(  # expired keys may be reused
        delete(IdempotencyKey).where(
            col(IdempotencyKey.owner) == row.owner,
            col(IdempotencyKey.key) == row.key,
            col(IdempotencyKey.expires_at) <= now,
        )
    )
    db.add(row)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True


def _run_and_commit(db: SyncSession, statement: Update) -> None:
    db.exec(statement)
    db.commit()
