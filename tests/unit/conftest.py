"""Bay over the fakes (`tests/fakes.py`): services and surfaces tested without Docker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from bay_mcp.bay import Bay
from bay_mcp.settings import BaySettings, Profile
from bay_mcp.storage.database import Database
from ship import runtime as ship_runtime
from tests.databases import database_url
from tests.fakes import BytesUpload, FakeDriver, FakeShip

__all__ = ["BytesUpload", "FakeDriver", "FakeShip"]


@pytest.fixture(scope="session", autouse=True)
def ship_without_a_browser() -> Iterator[None]:
    """In-process Ship is the plain image: no browser, even on a host that has Chromium
    and Playwright (scripts/test installs both for the console's browser tests)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ship_runtime, "browser_available", lambda: False)
        yield


@pytest.fixture
def driver() -> FakeDriver:
    return FakeDriver()


@pytest.fixture
def ship(driver: FakeDriver) -> FakeShip:
    return FakeShip(driver)


@pytest.fixture
def settings(tmp_path: Path) -> BaySettings:
    return BaySettings(
        data_dir=tmp_path,
        instance_id="bay-unit",
        auto_build_image=False,
        # No warm pool here: its own tests turn it on (tests/unit/services/test_pool.py).
        profiles=[
            Profile(id="python-default", warm_pool_size=0),
            Profile(id="python-only", capabilities=["python"]),
        ],
    )


@pytest_asyncio.fixture
async def bay(
    settings: BaySettings, driver: FakeDriver, ship: FakeShip, tmp_path: Path
) -> AsyncIterator[Bay]:
    async with database_url(tmp_path / "bay.db") as url:
        instance = Bay(settings, driver=driver, ship=ship, database=Database(url=url))
        await instance.start()
        try:
            yield instance
        finally:
            await instance.close()
