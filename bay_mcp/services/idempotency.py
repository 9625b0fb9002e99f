"""Idempotency keys: the same owner, key and request replay the stored response.

A request with a key is fingerprinted (method, path, body). The first one runs and its
response is stored; a repeat with the same fingerprint gets that response back and
nothing runs again; a repeat with another fingerprint is a conflict, and so is one
that arrives while the first is still running. Keys expire.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bay_mcp.errors import Conflict, ValidationFailed
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import IdempotencyKey, utcnow

MAX_KEY_LENGTH = 255
# (status, JSON body) of a response that may be replayed.
StoredResponse = tuple[int, Any]


def fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


class IdempotencyService:
    def __init__(self, db: Database, ttl: timedelta = timedelta(hours=1)) -> None:
        self._db = db
        self._ttl = ttl

    async def run(
        self,
        owner: str,
        key: str,
        request_fingerprint: str,
        work: Callable[[], Awaitable[StoredResponse]],
    ) -> StoredResponse:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValidationFailed(
                f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} characters",
                {"fields": ["Idempotency-Key"]},
            )
        now = utcnow()
        async with self._db.session() as db:
            await db.exec(  # expired keys may be reused
                delete(IdempotencyKey).where(
                    col(IdempotencyKey.owner) == owner,
                    col(IdempotencyKey.key) == key,
                    col(IdempotencyKey.expires_at) <= now,
                )
            )
            db.add(
                IdempotencyKey(
                    owner=owner,
                    key=key,
                    fingerprint=request_fingerprint,
                    expires_at=now + self._ttl,
                )
            )
            try:
                await db.commit()
                claimed = True
            except IntegrityError:
                await db.rollback()
                claimed = False
        if not claimed:
            return await self._replay(owner, key, request_fingerprint)
        try:
            status, body = await work()
        except BaseException:
            await self._forget(owner, key)  # a failed request may be retried with its key
            raise
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
            row.response_body = json.dumps(body)
            db.add(row)
            await db.commit()
        return status, body

    async def _replay(self, owner: str, key: str, request_fingerprint: str) -> StoredResponse:
        async with self._db.session() as db:
            row = (
                await db.exec(
                    select(IdempotencyKey).where(
                        IdempotencyKey.owner == owner, IdempotencyKey.key == key
                    )
                )
            ).first()
        if row is None:
            raise Conflict("the request with this Idempotency-Key just failed; retry it")
        if row.fingerprint != request_fingerprint:
            raise Conflict(
                "this Idempotency-Key was used with a different request; use a new key",
                {"idempotency_key": key},
            )
        if row.status != "done" or row.response_status is None or row.response_body is None:
            raise Conflict(
                "a request with this Idempotency-Key is still running; retry shortly",
                {"idempotency_key": key},
            )
        return row.response_status, json.loads(row.response_body)

    async def _forget(self, owner: str, key: str) -> None:
        async with self._db.session() as db:
            await db.exec(
                delete(IdempotencyKey).where(
                    col(IdempotencyKey.owner) == owner, col(IdempotencyKey.key) == key
                )
            )
            await db.commit()
