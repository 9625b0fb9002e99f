"""Idempotency keys: the same owner, key and request replay the stored response.

A request with a key is fingerprinted (method, path, body). The first one runs and its
response is stored; a repeat with the same fingerprint gets that response back and
nothing runs again; a repeat with another fingerprint is a conflict, and so is one
that arrives while the first is still running. Keys expire.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bay_mcp.errors import Conflict, ValidationFailed
from bay_mcp.storage.database import Database
from bay_mcp.storage.idempotency import IdempotencyRepository
from bay_mcp.storage.models import utcnow

MAX_KEY_LENGTH = 255
# Visible ASCII, as upstream's keys and HTTP header values are safely written: a key with
# spaces or other characters is a client's bug, better refused than stored.
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")
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
        self._rows = IdempotencyRepository(db)
        self._ttl = ttl

    async def run(
        self,
        owner: str,
        key: str,
        request_fingerprint: str,
        work: Callable[[], Awaitable[StoredResponse]],
    ) -> StoredResponse:
        if not _KEY.fullmatch(key):
            raise ValidationFailed(
                f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} visible ASCII characters "
                "(no spaces), e.g. a UUID; send a new key of that form",
                {"fields": ["Idempotency-Key"], "field": "Idempotency-Key"},
            )
        now = utcnow()
        claimed = await self._rows.claim(owner, key, request_fingerprint, now, now + self._ttl)
        if not claimed:
            return await self._replay(owner, key, request_fingerprint)
        try:
            status, body = await work()
        except BaseException:
            await self._forget(owner, key)  # a failed request may be retried with its key
            raise
        await self._rows.finish(owner, key, status, json.dumps(body))
        return status, body

    async def _replay(self, owner: str, key: str, request_fingerprint: str) -> StoredResponse:
        row = await self._rows.find(owner, key)
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
        await self._rows.forget(owner, key)
