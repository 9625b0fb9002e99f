"""The SQLite database: one async engine, sessions per unit of work, migrations at start."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision (a unit test holds it to Alembic's head): a database
# already there is not handed to Alembic, whose import costs every start ~11 MiB.
HEAD_REVISION = "0007"


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside a writer; the busy timeout makes a second Bay
    # process wait for a lock instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints, not at every commit: a power cut may lose
    # the last commits, never corrupt the file (SQLite's recommended pairing). Every
    # commit's fsync otherwise costs each call about a millisecond.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_CURRENT = "SELECT version_num FROM alembic_version"


class Database:
    """Owns the engine. `migrate()` once at start, then `session()` per unit of work."""

    def __init__(self, path: Path | None) -> None:
        url = "sqlite+aiosqlite:///:memory:" if path is None else f"sqlite+aiosqlite:///{path}"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url)
        event.listen(self.engine.sync_engine, "connect", _on_connect)

    async def migrate(self) -> None:
        """Bring the schema to the newest version (a new file starts empty)."""
        async with self.engine.begin() as connection:
            try:
                current = (await connection.execute(text(_CURRENT))).scalar()
            except OperationalError:  # no alembic_version table: a new database
                current = None
            if current != HEAD_REVISION:
                await connection.run_sync(_upgrade)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
