"""Session rows: a sandbox's running container as the database knows it, and the claim
that makes one start per sandbox across Bay processes sharing the database."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Sandbox, Session, utcnow


class SessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def latest(self, sandbox_id: str) -> Session | None:
        """The sandbox's newest session row (starting, ready or failed), if any."""
        async with self._db.session() as db:
            result = await db.exec(
                select(Session)
                .where(Session.sandbox_id == sandbox_id)
                .order_by(col(Session.created_at).desc())
            )
            return result.first()

    async def latest_of(self, sandbox_ids: list[str]) -> dict[str, Session]:
        """The newest session row of each of these sandboxes that has one."""
        async with self._db.session() as db:
            rows = await db.exec(
                select(Session)
                .where(col(Session.sandbox_id).in_(sandbox_ids))
                .order_by(col(Session.created_at))
            )
            return {row.sandbox_id: row for row in rows}  # the newest written last

    async def of_sandbox(self, sandbox_id: str) -> list[Session]:
        async with self._db.session() as db:
            return list(
                (await db.exec(select(Session).where(Session.sandbox_id == sandbox_id))).all()
            )

    async def sandbox_and_sessions(self, sandbox_id: str) -> tuple[Sandbox | None, list[Session]]:
        """The sandbox's row and its sessions, read together."""
        async with self._db.session() as db:
            sandbox = await db.get(Sandbox, sandbox_id)
            sessions = list(
                (await db.exec(select(Session).where(Session.sandbox_id == sandbox_id))).all()
            )
        return sandbox, sessions

    async def all(self) -> list[Session]:
        async with self._db.session() as db:
            return list((await db.exec(select(Session))).all())

    async def insert_if_unchanged(self, session: Session, seen_version: int) -> bool:
        """Insert `session` and bump its sandbox's version, if the sandbox is live and
        still at `seen_version`; False (nothing written) when it moved on."""
        async with self._db.session() as db:
            claimed = await db.exec(
                update(Sandbox)
                .where(
                    col(Sandbox.id) == session.sandbox_id,
                    col(Sandbox.version) == seen_version,
                    col(Sandbox.deleted_at).is_(None),
                )
                .values(version=seen_version + 1, updated_at=utcnow())
            )
            if claimed.rowcount != 1:
                return False
            db.add(session)
            await db.commit()
        return True

    async def update(self, session_id: str, values: dict[str, object]) -> bool:
        """Set `values` on the session's row (and its updated_at); False when it is gone."""
        async with self._db.session() as db:
            row = await db.get(Session, session_id)
            if row is None:
                return False
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            db.add(row)
            await db.commit()
        return True

    async def delete(self, session_id: str) -> None:
        async with self._db.session() as db:
            row = await db.get(Session, session_id)
            if row is not None:
                await db.delete(row)
                await db.commit()
