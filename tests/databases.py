"""Which database the tests run Bay on: SQLite (the default), or PostgreSQL when
BAY_TEST_DATABASE_URL names a server (scripts/test starts a throwaway one and runs the
service and integration suites on each).

On PostgreSQL every Bay a test makes gets a database of its own, created empty and
dropped after, as every Bay on SQLite gets a file of its own.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg
from sqlalchemy import make_url

SERVER_URL = os.environ.get("BAY_TEST_DATABASE_URL") or None
ON_POSTGRES = SERVER_URL is not None


def _admin_dsn() -> str:
    assert SERVER_URL is not None
    return make_url(SERVER_URL).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(_admin_dsn())
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_postgres_database() -> str:
    """A new empty database on the test server; its URL."""
    assert SERVER_URL is not None
    name = f"bay_test_{secrets.token_hex(6)}"
    await _admin(f'CREATE DATABASE "{name}"')
    return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    # WITH (FORCE): a Bay killed by its test may have left connections open.
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
    url = anyio.run(create_postgres_database)
    try:
        yield url
    finally:
        anyio.run(drop_postgres_database, url)


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

    return anyio.run(run)
