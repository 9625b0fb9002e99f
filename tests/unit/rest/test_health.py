"""`GET /health` over the fakes: the checks it reports and its status when one fails."""

from __future__ import annotations

import httpx
import pytest

from bay_mcp import __version__
from bay_mcp.bay import Bay
from bay_mcp.errors import DriverError
from tests.fakes import FakeDriver


async def test_health_reports_each_check_and_the_version(api: httpx.AsyncClient) -> None:
    health = await api.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy"
    assert body["version"] == __version__
    assert body["checks"]["driver"] == "ok (docker fake)"
    assert body["checks"]["database"] in ("ok (sqlite)", "ok (postgresql)")
    assert body["pool"] == {}


async def test_a_failing_driver_makes_health_503_and_names_the_failure(
    api: httpx.AsyncClient, driver: FakeDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_engine() -> str:
        raise DriverError("no Docker engine answers: connection refused")

    monkeypatch.setattr(driver, "ping", no_engine)
    health = await api.get("/health")
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["driver"] == "failing: no Docker engine answers: connection refused"
    assert body["checks"]["database"].startswith("ok")


async def test_a_failing_database_is_reported_by_its_error_type_only(
    api: httpx.AsyncClient, bay: Bay, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable() -> None:
        raise ConnectionRefusedError("password=hunter2 at db.internal")

    monkeypatch.setattr(bay.db, "ping", unreachable)
    health = await api.get("/health")
    assert health.status_code == 503
    assert health.json()["checks"]["database"] == "failing: ConnectionRefusedError"
