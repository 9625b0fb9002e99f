"""The Ship app in-process: a real kernel, a temporary workspace, no Docker."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from ship.app import create_app
from ship.settings import ShipSettings

TOKEN = "unit-test-token-0123456789"


def make_settings(workspace: Path, **overrides: object) -> ShipSettings:
    values: dict[str, object] = {
        "token": TOKEN,
        "workspace": workspace,
        "kernel_python": sys.executable,
        "max_output_bytes": 64 * 1024,
        "max_read_bytes": 64 * 1024,
    }
    values.update(overrides)
    return ShipSettings(**values)  # type: ignore[arg-type]


def user_env(home: Path) -> dict[str, str]:
    """The environment user code gets in these tests: never the host's own HOME.

    `bash -lc` reads ~/.profile and ~/.bashrc; the host's may run slow or locking
    commands (pyenv rehash) that a test's timeout kill would leave half done.
    """
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}


async def ship_client(settings: ShipSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, env=user_env(settings.workspace.parent / "home"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://ship",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        ) as client:
            yield client


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(workspace: Path) -> AsyncIterator[httpx.AsyncClient]:
    """One Ship (and so one kernel) per test module, as in a container."""
    async for ship in ship_client(make_settings(workspace)):
        yield ship
