"""The health check: database and driver pings, and how each warm pool stands.

A failing check is reported in the result, never raised."""

from __future__ import annotations

from dataclasses import dataclass

from bay_mcp.drivers import Driver
from bay_mcp.services.pool import WarmPool
from bay_mcp.services.views import PoolReport
from bay_mcp.storage.database import Database


@dataclass(frozen=True)
class HealthReport:
    """Each check's outcome by name (`database`, `driver`): "ok (…)" or "failing: …"."""

    checks: dict[str, str]
    pool: dict[str, PoolReport]

    @property
    def healthy(self) -> bool:
        return all(value.startswith("ok") for value in self.checks.values())


class HealthService:
    def __init__(self, db: Database, driver: Driver, driver_name: str, pool: WarmPool) -> None:
        self._db = db
        self._driver = driver
        self._driver_name = driver_name
        self._pool = pool

    async def check(self) -> HealthReport:
        """Ping the database and the driver; a failing one is reported, not raised."""
        checks: dict[str, str] = {}
        try:
            await self._db.ping()
            checks["database"] = "ok (sqlite)" if self._db.is_sqlite else "ok (postgresql)"
        except Exception as exc:  # reported, not raised: this is the health check
            checks["database"] = f"failing: {type(exc).__name__}"
        try:
            checks["driver"] = f"ok ({self._driver_name} {await self._driver.ping()})"
        except Exception as exc:
            checks["driver"] = f"failing: {exc}"
        return HealthReport(checks=checks, pool=self._pool.report())
