"""API keys: made once (shown once), stored hashed, mapped to an owner, revocable."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import col, select

from bay_mcp.errors import NotFound, ValidationFailed
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import ApiKey, utcnow

KEY_PREFIX = "bay_"
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


class KeyView(BaseModel):
    id: str
    owner: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _view(row: ApiKey) -> KeyView:
    return KeyView(
        id=row.id,
        owner=row.owner,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class KeyService:
    def __init__(self, db: Database, env_key: str | None, env_key_owner: str) -> None:
        self._db = db
        # BAY_API_KEY: one key from the environment, never written to the database.
        self._env_key_hash = hash_key(env_key) if env_key else None
        self._env_key_owner = env_key_owner

    @property
    def any_configured(self) -> bool:
        return self._env_key_hash is not None

    async def has_keys(self) -> bool:
        if self._env_key_hash is not None:
            return True
        async with self._db.session() as db:
            row = (await db.exec(select(ApiKey).where(col(ApiKey.revoked_at).is_(None)))).first()
        return row is not None

    async def create(self, owner: str) -> tuple[KeyView, str]:
        """A new key for `owner`: returns its record and the key, which is not kept."""
        if not re.match(OWNER_PATTERN, owner):
            raise ValidationFailed(
                "owner must be 1–64 letters, digits or . _ @ - (starting with a letter or digit)"
            )
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(owner=owner, key_hash=hash_key(key), prefix=key[:10])
        async with self._db.session() as db:
            db.add(row)
            await db.commit()
        return _view(row), key

    async def list(self) -> list[KeyView]:
        async with self._db.session() as db:
            rows = (await db.exec(select(ApiKey).order_by(col(ApiKey.created_at)))).all()
        return [_view(row) for row in rows]

    async def revoke(self, key_id: str) -> KeyView:
        async with self._db.session() as db:
            row = await db.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"key {key_id} not found (bay-mcp keys list shows the ids)")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                db.add(row)
                await db.commit()
        return _view(row)

    async def owner_for(self, key: str) -> str | None:
        """The owner a presented key belongs to; None for an unknown or revoked key."""
        digest = hash_key(key)
        if self._env_key_hash is not None and hmac.compare_digest(digest, self._env_key_hash):
            return self._env_key_owner
        async with self._db.session() as db:
            row = (await db.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first()
        if row is None or row.revoked_at is not None:
            return None
        return row.owner
