"""The database: one async engine, sessions per unit of work, migrations at start.

SQLite in the data directory by default (one host); PostgreSQL through asyncpg when
BAY_DATABASE_URL names one (several Bay processes sharing it). The same Alembic
migrations and queries serve both; what differs is confined to this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, Select, create_engine, event, inspect, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import Session as SyncSession
from sqlmodel.ext.asyncio.session import AsyncSession

from bay_mcp.storage.row_reads import KeptRows, Locked, SqliteReads

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision (a unit test holds it to Alembic's head): a database
# already there is not handed to Alembic, whose import costs every start ~11 MiB.
HEAD_REVISION = "0014"


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout makes a second Bay process wait for a lock instead of failing
    # at once (set first: the next pragma may meet one); WAL lets readers run beside a
    # writer.
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints, not at every commit: a power cut may lose
    # the last commits, never corrupt the file (SQLite's recommended pairing). Every
    # commit's fsync otherwise costs each call about a millisecond.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_CURRENT = "SELECT version_num FROM alembic_version"
# Held by the transaction that migrates a PostgreSQL database: replicas starting
# together migrate one after the other (the second finds the schema current).
_MIGRATION_LOCK = 0x6261795F6D696772  # "bay_migr"


def _has_version_table(connection: Connection) -> bool:
    return inspect(connection).has_table("alembic_version")


def sqlite_url(path: Path | None) -> str:
    return "sqlite+aiosqlite:///:memory:" if path is None else f"sqlite+aiosqlite:///{path}"


def display_url(url: str) -> str:
    """The URL without its password, for logs."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """Owns the engine. `migrate()` once at start, then `session()` per unit of work.

    `Database(path)` is SQLite in that file (None: in memory); `Database(url=...)` is
    any URL, SQLite or PostgreSQL (postgresql+asyncpg://...).
    """

    def __init__(self, path: Path | None = None, *, url: str | None = None) -> None:
        if url is None:
            url = sqlite_url(path)
        elif make_url(url).get_backend_name() == "sqlite":
            database = make_url(url).database
            path = Path(database) if database and database != ":memory:" else None
        backend = make_url(url).get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(
                f"BAY_DATABASE_URL names a {backend} database; Bay runs on SQLite "
                "(the default) or PostgreSQL (postgresql+asyncpg://user:password@host/db)"
            )
        self.url = url
        self.is_sqlite = backend == "sqlite"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(url)
            event.listen(self.engine.sync_engine, "connect", _on_connect)
        else:
            # pre_ping: a replica outlives database restarts and failovers.
            self.engine = create_async_engine(
                url, pool_size=10, max_overflow=20, pool_pre_ping=True
            )
        # A warm call's one read runs on sqlite3 itself, on the loop (row_reads.py): a
        # thread added two wake-ups per call, aiosqlite one per step (begin, execute,
        # fetch, reset), the ORM more than the query. Writes behind a call (the history)
        # go to a thread of their own: their ORM and SQLite work then runs while the
        # loop waits on Ship.
        self._sync: Engine | None = None
        self._reads: SqliteReads | None = None
        self._kept: KeptRows[Any] = KeptRows()
        self._writer_thread: ThreadPoolExecutor | None = None
        if self.is_sqlite and path is not None:
            self._sync = create_engine(f"sqlite:///{path}")
            event.listen(self._sync, "connect", _on_connect)
            self._reads = SqliteReads(path, self._sync.dialect)
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="bay-db-write")

    async def migrate(self) -> None:
        """Bring the schema to the newest version (a new file starts empty)."""
        async with self.engine.begin() as connection:
            if not self.is_sqlite:  # replicas starting together take turns
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            current = None  # a new database has no alembic_version table
            if await connection.run_sync(_has_version_table):
                current = (await connection.execute(text(_CURRENT))).scalar()
            if current != HEAD_REVISION:
                await connection.run_sync(_upgrade)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    async def first(
        self,
        query: Select[Any],
        params: Mapping[str, Any],
        build: Callable[[tuple[Any, ...]], T],
    ) -> T | None:
        """`build` of the first row of a read-only select of columns (typed as SQLAlchemy
        gives them), or None when there is none. What `build` made is given again while
        the row reads the same (row_reads.py): read it, never change it."""
        key = (id(query), *sorted(params.items()))
        if self._reads is not None:
            try:
                raw = self._reads.first(query, params)
            except Locked:
                pass  # read below, through a connection that waits
            else:
                reads = self._reads
                return self._built(key, raw, lambda: build(reads.typed(query, raw or ())))
        async with self.engine.connect() as connection:  # in memory, PostgreSQL, or waiting
            row = (await connection.execute(query, params)).first()
        values = None if row is None else tuple(row)
        return self._built(key, values, lambda: build(values or ()))

    def _built(
        self, key: Hashable, row: tuple[Any, ...] | None, build: Callable[[], T]
    ) -> T | None:
        if row is None:
            self._kept.forget(key)
            return None
        built: T = self._kept.get(key, row, build)
        return built

    async def write_behind(self, work: Callable[[SyncSession], T]) -> T:
        """Run `work` (which commits) with a sync session on the writer thread; in
        memory, where there is one connection, on the loop through the async session.
        A unit of work of several statements pays one hand-off, not one per statement
        as through aiosqlite: writes behind a call, and writes on a request's path (a
        pool claim, an idempotency key)."""
        if self._sync is None or self._writer_thread is None:
            async with self.session() as db:
                # sqlmodel's AsyncSession wraps its own Session class
                return await db.run_sync(lambda sync: work(cast(SyncSession, sync)))
        engine = self._sync

        def write() -> T:
            with SyncSession(engine, expire_on_commit=False) as db:
                return work(db)

        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, write)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
        if self._reads is not None:
            self._reads.close()
        if self._sync is not None:
            await asyncio.to_thread(self._close_sync, self._sync)

    def _close_sync(self, engine: Engine) -> None:
        if self._writer_thread is not None:
            self._writer_thread.shutdown()  # waits for what was handed to it
        engine.dispose()
