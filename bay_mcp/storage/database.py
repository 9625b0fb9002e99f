"""The database: one async engine, sessions per unit of work, migrations at start.

SQLite in the data directory by default (one host); PostgreSQL through asyncpg when
BAY_DATABASE_URL names one (several Bay processes sharing it). The same Alembic
migrations and queries serve both; what differs is confined to this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import Session as SyncSession
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision (a unit test holds it to Alembic's head): a database
# already there is not handed to Alembic, whose import costs every start ~11 MiB.
HEAD_REVISION = "0009"


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _on_connect(dbapi_connection: Any, _record: Any, busy_ms: int = 5000) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout makes a second Bay process wait for a lock instead of failing
    # at once (set first: the next pragma may meet one); WAL lets readers run beside a
    # writer.
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints, not at every commit: a power cut may lose
    # the last commits, never corrupt the file (SQLite's recommended pairing). Every
    # commit's fsync otherwise costs each call about a millisecond.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _on_connect_never_wait(dbapi_connection: Any, record: Any) -> None:
    _on_connect(dbapi_connection, record, busy_ms=0)


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
        # A warm call's one read is a plain sqlite3 read on the loop itself: a primary-key
        # lookup in WAL mode never waits for a writer, and its Python holds the GIL
        # wherever it runs, so a thread only added two wake-ups per call (and aiosqlite
        # one per step: begin, execute, fetch, reset). Its connection never waits for a
        # lock: in the rare case SQLite asks a reader to (another process recovering the
        # file), the read goes to aiosqlite, which waits off the loop.
        # Writes behind a call (the history) go to a thread of their own: their ORM and
        # SQLite work then runs while the loop waits on Ship.
        self._sync: Engine | None = None
        self._reads: Engine | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        if self.is_sqlite and path is not None:
            self._sync = create_engine(f"sqlite:///{path}")
            event.listen(self._sync, "connect", _on_connect)
            # timeout 0: sqlite3's own wait (5 s by default) while connecting, too
            self._reads = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
            event.listen(self._reads, "connect", _on_connect_never_wait)
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

    async def first(self, query: Any, params: Mapping[str, Any]) -> Any:
        """The first row of a read-only select (ORM objects, detached), or None."""
        if self._reads is not None:
            try:
                with SyncSession(self._reads, expire_on_commit=False) as db:
                    return db.exec(query, params=params).first()
            except OperationalError as exc:
                if "locked" not in str(exc):
                    raise
        async with self.session() as db:  # in memory (one connection), or asked to wait
            return (await db.exec(query, params=params)).first()

    async def write_behind(self, work: Callable[[SyncSession], T]) -> T:
        """Run `work` (which commits) with a sync session on the writer thread; in
        memory, where there is one connection, on the loop through the async session."""
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
            self._reads.dispose()
        if self._sync is not None:
            await asyncio.to_thread(self._close_sync, self._sync)

    def _close_sync(self, engine: Engine) -> None:
        if self._writer_thread is not None:
            self._writer_thread.shutdown()  # waits for what was handed to it
        engine.dispose()
