"""The storage tests' database: migrated, on SQLite or PostgreSQL (tests/databases.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from bay_mcp.storage.database import Database
from tests.databases import database_url


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with database_url(tmp_path / "bay.db") as url:
        database = Database(url=url)
        await database.migrate()
        try:
            yield database
        finally:
            await database.close()
