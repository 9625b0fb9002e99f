"""Who is signed in to the console: an API key exchanged for a server-side session.

The browser keeps a random token in an HttpOnly cookie and never the key; the row keeps
the token's hash and the key's hash, so every console request checks the key again
(revoked or expired, its sessions end with it) through the same rule as a keyed request
(`KeyService.authenticate_hash`). Without a key, a session is anonymous only while the
`AccessPolicy` allows anonymous callers, as it would for a request without a key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from bay_mcp.errors import Unauthorized
from bay_mcp.services.keys import NO_KEY, AccessPolicy, KeyService, hash_key
from bay_mcp.storage.console_sessions import ConsoleSessionRepository
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import ConsoleSession, utcnow

log = logging.getLogger(__name__)

# A console session lasts a working day; signing in again is one paste of the key.
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class ConsoleCaller:
    """The person behind a console request."""

    owner: str
    is_admin: bool
    csrf_token: str

    def csrf_matches(self, given: str | None) -> bool:
        # As bytes: compare_digest refuses a str with non-ASCII characters (TypeError),
        # and a forged form may send one.
        return given is not None and hmac.compare_digest(given.encode(), self.csrf_token.encode())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, db: Database, keys: KeyService, policy: AccessPolicy) -> None:
        self._rows = ConsoleSessionRepository(db)
        self._keys = keys
        self._policy = policy

    async def anonymous_allowed(self, loopback_bind: bool) -> bool:
        return await self._policy.anonymous_allowed(loopback_bind)

    async def sign_in(self, key: str | None, *, loopback_bind: bool) -> tuple[str, ConsoleCaller]:
        """A new session for `key` (None: anonymous, where allowed): the cookie's token
        and the caller. Raises Unauthorized as a keyed request would."""
        if key:
            key_hash: str | None = hash_key(key.strip())
            assert key_hash is not None
            owner = await self._keys.authenticate_hash(key_hash)
        elif await self._policy.anonymous_allowed(loopback_bind):
            key_hash, owner = None, self._policy.anonymous_owner
        else:
            raise Unauthorized(NO_KEY)
        token = secrets.token_urlsafe(32)
        now = utcnow()
        row = ConsoleSession(
            id=_hash(token),
            owner=owner,
            key_hash=key_hash,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
        await self._rows.insert(row, now)
        log.info("console: owner %s signed in", owner)
        return token, self._caller(row)

    async def caller(self, token: str | None, *, loopback_bind: bool) -> ConsoleCaller | None:
        """The caller a cookie's token names; None when it names no live session or its
        key (or anonymous access) is no longer good."""
        if not token:
            return None
        row = await self._rows.get(_hash(token))
        if row is None or row.expires_at <= utcnow():
            return None
        try:
            if row.key_hash is not None:
                owner = await self._keys.authenticate_hash(row.key_hash)
            elif await self._policy.anonymous_allowed(loopback_bind):
                owner = self._policy.anonymous_owner
            else:
                return None
        except Unauthorized:
            return None
        if owner != row.owner:
            return None
        return self._caller(row)

    async def sign_out(self, token: str | None) -> None:
        if token:
            await self._rows.remove(_hash(token))

    def _caller(self, row: ConsoleSession) -> ConsoleCaller:
        return ConsoleCaller(
            owner=row.owner, is_admin=self._policy.is_admin(row.owner), csrf_token=row.csrf_token
        )
