"""API keys: made once (shown once), stored hashed, mapped to an owner, revocable,
optionally expiring.

Also the one rule for who an HTTP caller is (`AccessPolicy`): a valid key, or an
anonymous caller where anonymous access is allowed, optionally acting as another
owner when the key is an admin's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel

from bay_mcp.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from bay_mcp.storage.api_keys import ApiKeyRepository
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import ApiKey, utcnow

log = logging.getLogger(__name__)

KEY_PREFIX = "bay_"
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
OWNER_RULE = "1–64 letters, digits or . _ @ - (starting with a letter or digit)"
# last_used_at is a hint for operators, not an audit log: one write a minute per key.
LAST_USED_RESOLUTION = timedelta(seconds=60)


NO_KEY = (
    "an API key is required: send 'Authorization: Bearer <key>' "
    "(create one with `bay-mcp keys create --owner NAME`)"
)


class KeyView(BaseModel):
    id: str
    owner: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return f"revoked {self.revoked_at:%Y-%m-%d %H:%M}Z"
        if self.expires_at is not None and self.expires_at <= now:
            return f"expired {self.expires_at:%Y-%m-%d %H:%M}Z"
        if self.expires_at is not None:
            return f"active until {self.expires_at:%Y-%m-%d %H:%M}Z"
        return "active"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_owner(owner: str, what: str = "owner") -> str:
    if not re.match(OWNER_PATTERN, owner):
        raise ValidationFailed(f"{what} must be {OWNER_RULE}", {"fields": [what]})
    return owner


def _view(row: ApiKey) -> KeyView:
    return KeyView(
        id=row.id,
        owner=row.owner,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class KeyService:
    def __init__(self, db: Database, env_key: str | None, env_key_owner: str) -> None:
        self._rows = ApiKeyRepository(db)
        # BAY_API_KEY: one key from the environment, never written to the database.
        self._env_key_hash = hash_key(env_key) if env_key else None
        self._env_key_owner = env_key_owner
        # Key rows are never deleted, so once one exists the answer never changes back.
        self._keys_exist = self._env_key_hash is not None

    async def any_exist(self) -> bool:
        """True once any key was ever made (revoked and expired ones count: revoking
        a key must never open the door to anonymous callers)."""
        if not self._keys_exist:
            # Asked by every anonymous request: the warm call's cheap read.
            self._keys_exist = await self._rows.any_exist()
        return self._keys_exist

    async def has_usable_keys(self) -> bool:
        """True when some key would authenticate now (not revoked, not expired)."""
        if self._env_key_hash is not None:
            return True
        now = utcnow()
        rows = await self._rows.unrevoked()
        return any(row.expires_at is None or row.expires_at > now for row in rows)

    async def create(self, owner: str, expires_in: timedelta | None = None) -> tuple[KeyView, str]:
        """A new key for `owner`: returns its record and the key, which is not kept."""
        check_owner(owner)
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValidationFailed("a key's lifetime must be positive", {"fields": ["expires_in"]})
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        row = ApiKey(
            owner=owner,
            key_hash=hash_key(key),
            prefix=key[:10],
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
        )
        await self._rows.insert(row)
        self._keys_exist = True
        log.info("API key %s created for owner %s", row.id, owner)
        return _view(row), key

    async def list(self) -> list[KeyView]:
        return [_view(row) for row in await self._rows.all()]

    async def revoke(self, key_id: str) -> KeyView:
        row, revoked = await self._rows.revoke(key_id, utcnow())
        if row is None:
            raise NotFound(f"key {key_id} not found (bay-mcp keys list shows the ids)")
        if revoked:
            log.info("API key %s of owner %s revoked", row.id, row.owner)
        return _view(row)

    async def authenticate(self, key: str) -> str:
        """The owner a presented key belongs to.

        Raises Unauthorized saying whether the key is unknown, revoked or expired.
        """
        return await self.authenticate_hash(hash_key(key))

    async def authenticate_hash(self, digest: str) -> str:
        """`authenticate` for a key known by its hash (a console session keeps only it)."""
        if self._env_key_hash is not None and hmac.compare_digest(digest, self._env_key_hash):
            return self._env_key_owner
        now = utcnow()
        # Every keyed request's read: the warm call's cheap one (its model is shared).
        row = await self._rows.by_hash(digest)
        if row is None:
            raise Unauthorized("the API key is unknown: check it, or create one")
        if row.revoked_at is not None:
            raise Unauthorized(
                f"the API key {row.prefix}… was revoked on {row.revoked_at:%Y-%m-%d}: "
                "use another key"
            )
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthorized(
                f"the API key {row.prefix}… expired at {row.expires_at:%Y-%m-%d %H:%M}Z: "
                "create a new one with `bay-mcp keys create`"
            )
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            await self._rows.mark_used(row.id, now)
        return row.owner


class AccessPolicy:
    """Who an HTTP caller is. One rule for REST, MCP streamable HTTP and SSE.

    - A valid bearer key makes its owner the caller.
    - Without a key: anonymous access (as `anonymous_owner`) only when enabled
      explicitly, or, when not configured, on a loopback bind while no key exists
      at all. Loopback is no trust boundary: a proxy on the same host makes every
      request come from 127.0.0.1, so keys switch anonymous access off.
    - `X-Owner` (act as another owner) is honoured for an admin's key only.
    """

    def __init__(
        self,
        keys: KeyService,
        *,
        admin_owners: list[str],
        allow_anonymous: bool | None,
        anonymous_owner: str,
    ) -> None:
        self._keys = keys
        self._admins = frozenset(admin_owners)
        self._allow_anonymous = allow_anonymous
        self.anonymous_owner = anonymous_owner

    def describe_anonymous(self, loopback_bind: bool) -> str:
        """Why anonymous access is on, for the start-up log."""
        if self._allow_anonymous is True:
            return (
                f"ON (BAY_ALLOW_ANONYMOUS=true): callers without a key act as owner "
                f"'{self.anonymous_owner}'"
            )
        return (
            f"ON while no API key exists (loopback bind, local development): callers "
            f"without a key act as owner '{self.anonymous_owner}'. Anyone who can reach "
            "this port, including through a local proxy, can run code. Create a key "
            "(`bay-mcp keys create`) or set BAY_ALLOW_ANONYMOUS=false to turn it off"
        )

    async def anonymous_allowed(self, loopback_bind: bool) -> bool:
        if self._allow_anonymous is not None:
            return self._allow_anonymous
        return loopback_bind and not await self._keys.any_exist()

    def is_admin(self, owner: str) -> bool:
        return owner in self._admins

    def require_admin(self, owner: str) -> None:
        if not self.is_admin(owner):
            raise Forbidden(
                f"owner {owner} may not use the admin API (BAY_ADMIN_OWNERS lists who may)"
            )

    async def caller(
        self, authorization: str | None, act_as: str | None, *, loopback_bind: bool
    ) -> str:
        """The owner a request acts as. Raises Unauthorized, Forbidden or ValidationFailed."""
        if authorization is not None:
            scheme, _, key = authorization.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
            owner = await self._keys.authenticate(key.strip())
        elif await self.anonymous_allowed(loopback_bind):
            owner = self.anonymous_owner
        else:
            raise Unauthorized(NO_KEY)
        if act_as is None:
            return owner
        if authorization is None or not self.is_admin(owner):
            raise Forbidden(
                "X-Owner (act as another owner) is honoured only for an admin's API key "
                "(BAY_ADMIN_OWNERS); remove the header or use such a key"
            )
        return check_owner(act_as, "X-Owner")
