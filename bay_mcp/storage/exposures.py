"""Exposure rows: the ports served through Bay's HTTP proxy, each tied to the session
it was made in, shared by every Bay process on the database."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Exposure


class ExposureRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def store(
        self, owner: str, sandbox_id: str, port: int, session_id: str
    ) -> tuple[Exposure, bool]:
        """The port's row for this session, made (or remade over a stale one's) if need
        be; and whether this call made it (False: it was there, or another process made
        it at the same moment)."""
        async with self._db.session() as db:
            row = await db.get(Exposure, (sandbox_id, port))
            if row is not None and row.session_id == session_id:
                return row, False
            if row is not None:
                await db.delete(row)
                await db.flush()
            row = Exposure(sandbox_id=sandbox_id, port=port, owner=owner, session_id=session_id)
            db.add(row)
            try:
                await db.commit()
            except IntegrityError:  # another process exposed it at the same moment
                await db.rollback()
                found = await db.get(Exposure, (sandbox_id, port))
                if found is None:
                    raise
                return found, False
        return row, True

    async def of_sandbox(self, sandbox_id: str, port: int | None = None) -> list[Exposure]:
        """The sandbox's exposures (of one port, when given)."""
        async with self._db.session() as db:
            query = select(Exposure).where(col(Exposure.sandbox_id) == sandbox_id)
            if port is not None:
                query = query.where(col(Exposure.port) == port)
            return list((await db.exec(query)).all())

    async def delete(self, sandbox_id: str, port: int, session_id: str) -> None:
        """Delete the port's exposure of this session only."""
        async with self._db.session() as db:
            await db.exec(
                delete(Exposure).where(
                    col(Exposure.sandbox_id) == sandbox_id,
                    col(Exposure.port) == port,
                    col(Exposure.session_id) == session_id,
                )
            )
            await db.commit()
