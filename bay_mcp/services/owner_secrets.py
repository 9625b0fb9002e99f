"""Owner secrets: named values an owner stores for the egress proxy to put in requests
to the hosts it binds them to. Sandboxes never see them, and no surface ever returns,
logs or records a value: a view is the name and its times.

Values are sealed at rest (`bay_mcp.secret_box`) under a key that is not in the
database, bound to their owner and name. Each owner has its own names; another owner's
secret is `not_found`. At most MAX_SECRETS_PER_OWNER per owner.

Callbacks in `on_change` run after a set or a delete with the owner's name (the egress
manager refreshes that owner's running sandboxes); one that fails is logged and the
others still run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.exc import IntegrityError

from bay_mcp.errors import InternalError, NotFound, QuotaExceeded, ValidationFailed
from bay_mcp.limits import MAX_SECRET_VALUE_CHARS, MAX_SECRETS_PER_OWNER, SECRET_NAME_PATTERN
from bay_mcp.secret_box import SecretBox, UndecryptableSecret
from bay_mcp.services.secret_views import SecretView
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import OwnerSecret, utcnow
from bay_mcp.storage.owner_secrets import OwnerSecretRepository

log = logging.getLogger(__name__)

SECRET_NAME = re.compile(SECRET_NAME_PATTERN)
OnChange = Callable[[str], Awaitable[None]]


def check_secret_name(name: str) -> str:
    if not SECRET_NAME.fullmatch(name):
        raise ValidationFailed(
            "name must be 1–64 letters, digits or '_', not starting with a digit "
            f"(like an environment variable's), got {name[:80]!r}",
            {"fields": ["name"], "field": "name"},
        )
    return name


def _check_value(value: str) -> bytes:
    # The value itself is never in a message: only its length.
    if not 1 <= len(value) <= MAX_SECRET_VALUE_CHARS:
        raise ValidationFailed(
            f"value must be 1–{MAX_SECRET_VALUE_CHARS} characters, it has {len(value)}",
            {"fields": ["value"], "field": "value"},
        )
    try:
        return value.encode()
    except UnicodeEncodeError:
        raise ValidationFailed(
            "value must be Unicode text (it holds a lone surrogate)",
            {"fields": ["value"], "field": "value"},
        ) from None


def _view(row: OwnerSecret) -> SecretView:
    return SecretView(name=row.name, created_at=row.created_at, updated_at=row.updated_at)


class SecretStore:
    """An owner's named secrets; the key comes at Bay's start (`use_box`)."""

    def __init__(self, db: Database) -> None:
        self._rows = OwnerSecretRepository(db)
        self._box: SecretBox | None = None
        self.on_change: list[OnChange] = []

    def use_box(self, box: SecretBox) -> None:
        self._box = box

    @property
    def has_box(self) -> bool:
        return self._box is not None

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            raise RuntimeError("the secrets key is loaded by Bay.start(); it has not run")
        return self._box

    async def set(self, owner: str, name: str, value: str) -> SecretView:
        """Store `value` as the owner's secret `name`, created or replaced.
        ValidationFailed for a bad name or value; QuotaExceeded for a new name past
        MAX_SECRETS_PER_OWNER."""
        check_secret_name(name)
        _check_value(value)
        sealed = self.box.seal(owner, name, value)
        now = utcnow()
        if not await self._rows.replace(owner, name, sealed, now):
            if await self._rows.count(owner) >= MAX_SECRETS_PER_OWNER:
                raise QuotaExceeded(
                    f"{owner} already has {MAX_SECRETS_PER_OWNER} secrets, the most one owner "
                    "may keep: delete one it no longer needs (replacing one is always allowed)",
                    {"limit": MAX_SECRETS_PER_OWNER},
                )
            try:
                await self._rows.insert(
                    OwnerSecret(
                        owner=owner, name=name, ciphertext=sealed, created_at=now, updated_at=now
                    )
                )
            except IntegrityError:
                # Another call made it meanwhile: this one, the later, replaces it.
                await self._rows.replace(owner, name, sealed, now)
        row = await self._rows.find(owner, name)
        assert row is not None
        await self._changed(owner)
        return _view(row)

    async def list(self, owner: str) -> list[SecretView]:
        """The owner's secrets by name, without their values."""
        return [_view(row) for row in await self._rows.all(owner)]

    async def delete(self, owner: str, name: str) -> None:
        """Remove the owner's secret `name`; NotFound when it has none so named."""
        check_secret_name(name)
        if not await self._rows.delete(owner, name):
            raise NotFound(f"secret {name} not found")
        await self._changed(owner)

    async def values(self, owner: str, names: Sequence[str]) -> dict[str, str]:
        """The values of the owner's secrets `names` (for the egress proxy only: never
        for a surface). NotFound naming the ones it does not have."""
        for name in names:
            check_secret_name(name)
        rows = {row.name: row for row in await self._rows.named(owner, names)}
        missing = [name for name in names if name not in rows]
        if missing:
            raise NotFound(
                f"secret{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found",
                {"missing": missing},
            )
        opened: dict[str, str] = {}
        for name, row in rows.items():
            try:
                opened[name] = self.box.open(owner, name, row.ciphertext)
            except UndecryptableSecret as exc:
                log.error("owner %s's secret %s does not decrypt with this key", owner, name)
                raise InternalError(
                    f"secret {name} does not decrypt with this Bay's key: it was stored under "
                    "another BAY_SECRETS_KEY (or another data directory's secrets.key); set "
                    "it again",
                    {"name": name},
                ) from exc
        return opened

    async def _changed(self, owner: str) -> None:
        for callback in list(self.on_change):
            try:
                await callback(owner)
            except Exception:
                log.exception("a callback on a change of %s's secrets failed", owner)
