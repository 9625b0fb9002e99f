"""The database: the schema is versioned by Alembic and matches the models, on SQLite
and on PostgreSQL; a read SQLite makes wait waits off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, inspect
from sqlmodel import SQLModel, select

import bay_mcp.storage.models  # noqa: F401  (the tables)
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Sandbox
from tests.databases import database_url


async def test_migrations_create_the_schema_and_match_the_models(tmp_path: Path) -> None:
    async with database_url(tmp_path / "bay.db") as url:
        await _migrate_and_compare(Database(url=url))


async def _migrate_and_compare(database: Database) -> None:
    await database.migrate()
    await database.migrate()  # a second start upgrades nothing and breaks nothing

    def check(connection: Connection) -> tuple[set[str], list[object]]:
        tables = set(inspect(connection).get_table_names())
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        return tables, diff

    async with database.engine.connect() as connection:
        tables, diff = await connection.run_sync(check)
    await database.close()
    assert {"sandboxes", "cargos", "sessions", "idempotency_keys", "alembic_version"} <= tables
    assert diff == [], f"the models changed without a migration: {diff}"


async def test_a_read_the_file_makes_wait_waits_off_the_loop(tmp_path: Path) -> None:
    # A call's read runs on the loop and never waits; when SQLite asks it to (here a
    # connection holding the file exclusively), it goes to aiosqlite and waits there,
    # while the loop goes on (it is the loop that releases the file below).
    database = Database(tmp_path / "bay.db")
    await database.migrate()
    await database.engine.dispose()  # an open connection keeps others from holding the file
    holder = sqlite3.connect(tmp_path / "bay.db", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO alembic_version VALUES ('held')")
    count = select(func.count()).select_from(Sandbox)
    read = asyncio.create_task(database.first(count, {}, lambda row: row[0]))
    await asyncio.sleep(0)  # the read's first step: the on-loop attempt, refused
    assert not read.done()
    holder.execute("COMMIT")
    holder.close()
    assert await read == 0
    await database.close()


def test_the_head_revision_constant_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bay_mcp.storage.database import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
