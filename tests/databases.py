"""Which database the tests run Bay on: SQLite (the default), or PostgreSQL when
BAY_TEST_DATABASE_URL names a server (scripts/test starts a throwaway one and runs the
service and integration suites on each).

On PostgreSQL every Bay a test makes gets a database of its own, created empty and
dropped after, as every Bay on SQLite gets a file of its own.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import asyncpg
from sqlalchemy import make_url

SERVER_URL = os.environ.get("BAY_TEST_DATABASE_URL") or None
T = TypeVar("T")


def run_async(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run a coroutine function to its end from sync code, inside a test's event loop or
    not: on a thread of its own, with a loop of its own."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(anyio.run, function, *args).result()


ON_POSTGRES = SERVER_URL is not None


def _admin_dsn(server: str) -> str:
    return make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(server: str, statement: str) -> None:
    connection = await asyncpg.connect(_admin_dsn(server))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_postgres_database(server: str | None = SERVER_URL) -> str:
    """A new empty database on the PostgreSQL server `server` (default: the test
    run's); its URL."""
    assert server is not None
    name = f"bay_test_{secrets.token_hex(6)}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    # WITH (FORCE): a Bay killed by its test may have left connections open.
    maintenance = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    await _admin(maintenance, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def database_url(sqlite_file: Path) -> AsyncIterator[str]:
    """A URL for one Bay: a fresh PostgreSQL database, or the SQLite file given."""
    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{sqlite_file}"
        return
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@contextmanager
def database_url_sync(sqlite_file: Path) -> Iterator[str]:
    """`database_url` for code outside an event loop (servers started as processes)."""
    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{sqlite_file}"
        return
    url = run_async(create_postgres_database)
    try:
        yield url
    finally:
        run_async(drop_postgres_database, url)


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on a Bay's database (either kind), for tests that look inside."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        import contextlib
        import re
        import sqlite3

        assert parsed.database is not None
        with contextlib.closing(sqlite3.connect(parsed.database)) as db:
            return [tuple(row) for row in db.execute(re.sub(r"\$\d+", "?", sql), args).fetchall()]

    async def run() -> list[tuple[Any, ...]]:
        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            return [tuple(row) for row in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return run_async(run)


# Databases made for servers the tests start as processes, by data directory: servers
# sharing a data directory (a restart, two processes) share its database, as they would
# its SQLite file. Dropped at the end of the test session (`drop_server_databases`).
_SERVER_DATABASES: dict[Path, str] = {}


def server_database_env(data_dir: Path) -> dict[str, str]:
    """BAY_DATABASE_URL for a server with this data directory: {} on SQLite (the data
    directory's own file), else a PostgreSQL database of its own."""
    if not ON_POSTGRES:
        return {}
    key = data_dir.resolve()
    if key not in _SERVER_DATABASES:
        _SERVER_DATABASES[key] = run_async(create_postgres_database)
    return {"BAY_DATABASE_URL": _SERVER_DATABASES[key]}


def server_database_url(data_dir: Path) -> str:
    """The URL of the database a server with this data directory uses."""
    env = server_database_env(data_dir)
    return env.get("BAY_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'bay.db'}")


def drop_server_databases() -> None:
    for url in _SERVER_DATABASES.values():
        run_async(drop_postgres_database, url)
    _SERVER_DATABASES.clear()
