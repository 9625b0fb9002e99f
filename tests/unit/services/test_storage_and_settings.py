"""The schema is versioned and matches the models; settings come from env and file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, inspect
from sqlmodel import SQLModel, select

import bay_mcp.storage.models  # noqa: F401  (the tables)
from bay_mcp.settings import BaySettings, resolve_instance_id
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


def test_env_overrides_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bay.toml"
    config.write_text(
        'output_limit_chars = 5000\nlocal_owner = "from-file"\n'
        '[[profiles]]\nid = "tiny"\nmemory_mb = 256\ncapabilities = ["python"]\n'
    )
    monkeypatch.setenv("BAY_CONFIG_FILE", str(config))
    monkeypatch.setenv("BAY_OUTPUT_LIMIT_CHARS", "7000")
    monkeypatch.setenv("BAY_DATA_DIR", str(tmp_path / "data"))
    settings = BaySettings()
    assert settings.output_limit_chars == 7000
    assert settings.local_owner == "from-file"
    assert settings.data_dir == tmp_path / "data"
    [profile] = settings.profiles
    assert (profile.id, profile.memory_mb, profile.capabilities) == ("tiny", 256, ["python"])


def test_defaults_work_on_a_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BAY_CONFIG_FILE", "BAY_PROFILES", "BAY_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = BaySettings()
    profile, browsing = settings.profiles
    assert profile.id == "python-default"
    assert profile.image == "ship:latest"
    assert (profile.cpus, profile.memory_mb, profile.idle_timeout_seconds) == (1.0, 1024, 600)
    assert profile.capabilities == ["python", "shell", "filesystem"]
    assert (browsing.id, browsing.image) == ("browser-python", "ship-browser:latest")
    assert browsing.capabilities == ["python", "shell", "filesystem", "browser"]
    assert browsing.pool_size == 0
    assert settings.database_path.name == "bay.db"


def test_a_missing_config_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAY_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ValueError, match="not a file"):
        BaySettings()


def test_the_instance_id_is_made_once(tmp_path: Path) -> None:
    settings = BaySettings(data_dir=tmp_path)
    first = resolve_instance_id(settings)
    assert first == resolve_instance_id(BaySettings(data_dir=tmp_path))
    assert resolve_instance_id(BaySettings(data_dir=tmp_path, instance_id="fixed")) == "fixed"


def test_the_head_revision_constant_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bay_mcp.storage.database import HEAD_REVISION, MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_json_log_lines_carry_the_context() -> None:
    import json
    import logging

    from bay_mcp.logs import JsonFormatter, RequestIdFilter, about, owner_var, sandbox_var

    record = logging.LogRecord("bay", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    with about(owner_var, "alice"), about(sandbox_var, "sandbox-1"):
        RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello world"
    assert (line["owner"], line["sandbox_id"], line["request_id"]) == ("alice", "sandbox-1", "-")
    assert "execution_id" not in line  # absent, never invented


async def test_a_context_left_in_another_task_does_not_fail() -> None:
    """A streamed download leaves the sandbox's context in Starlette's task."""
    import asyncio

    from bay_mcp.logs import about, sandbox_var

    entered = about(sandbox_var, "sandbox-1")
    entered.__enter__()
    await asyncio.create_task(asyncio.to_thread(entered.__exit__, None, None, None))
