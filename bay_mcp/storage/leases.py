"""Leases: a job that only one Bay process sharing the database may run at a time.

A row per job name says who holds it and until when. Taking it is one conditional
update (free, expired, or already ours) or, the first time, an insert that the primary
key makes exclusive; the same statements serve SQLite and PostgreSQL. A holder that
dies simply lets its lease expire: no extra service.

Each Bay process also holds a lease on its own name while it runs (`keep_alive`),
renewed every few seconds: what a process claimed (a session it is starting) is known
to be abandoned once that lease has expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Lease, utcnow

log = logging.getLogger(__name__)

# A process renews its own lease this often, and is taken for dead this long after its
# last renewal.
PROCESS_RENEW_S = 5.0
PROCESS_TTL = timedelta(seconds=20)


def process_lease(holder: str) -> str:
    return f"process:{holder}"


class Leases:
    def __init__(self, db: Database, holder: str | None = None) -> None:
        self._db = db
        # One holder per Bay process: replicas share the instance id, not this.
        self.holder = holder or f"bay-process-{secrets.token_hex(6)}"
        self._keep_alive: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Say this process lives (a first renewal now), and keep saying it."""
        await self.acquire(process_lease(self.holder), PROCESS_TTL)
        self._keep_alive = asyncio.create_task(self._renew(), name="bay-process-lease")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(PROCESS_RENEW_S)
            try:
                await self.acquire(process_lease(self.holder), PROCESS_TTL)
            except Exception:  # the database may be back by the next renewal
                log.warning("could not renew this process's lease", exc_info=True)

    async def stop(self) -> None:
        if self._keep_alive is not None:
            self._keep_alive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keep_alive
            self._keep_alive = None
            await self.release(process_lease(self.holder))

    async def alive(self, holder: str) -> bool:
        """Whether the Bay process `holder` still runs (its lease is current)."""
        return holder == self.holder or await self.holder_of(process_lease(holder)) is not None

    async def acquire(self, name: str, ttl: timedelta) -> bool:
        """Take (or renew) the lease `name` for `ttl`; False when another holds it."""
        now = utcnow()
        async with self._db.session() as db:
            taken = await db.exec(
                update(Lease)
                .where(
                    col(Lease.name) == name,
                    or_(col(Lease.expires_at) <= now, col(Lease.holder) == self.holder),
                )
                .values(holder=self.holder, expires_at=now + ttl)
            )
            if taken.rowcount == 1:
                await db.commit()
                return True
            db.add(Lease(name=name, holder=self.holder, expires_at=now + ttl))
            try:
                await db.commit()
            except IntegrityError:  # a live lease of another holder
                await db.rollback()
                return False
            return True

    async def release(self, name: str) -> None:
        """Give the lease up, if this process holds it."""
        async with self._db.session() as db:
            await db.exec(
                delete(Lease).where(col(Lease.name) == name, col(Lease.holder) == self.holder)
            )
            await db.commit()

    async def holder_of(self, name: str) -> str | None:
        """Who holds the lease now (None: nobody, or it expired)."""
        async with self._db.session() as db:
            lease = await db.get(Lease, name)
        if lease is None or lease.expires_at <= utcnow():
            return None
        return lease.holder
