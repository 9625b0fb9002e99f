"""The egress proxy as Bay runs it: one container per Bay instance (started when the
first proxied sandbox starts, adopted across Bay's restarts), told of each proxied
sandbox, watched, and started again when it dies.

The watch is the log's long poll: while the proxy answers, its entries go to the
database and the metric; when it stops answering, the proxy is started again (its
network connections kept) and told of every proxied sandbox anew, from the database.
While it is down, sandboxes reach nothing: the proxy is their only way out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Literal, Protocol

import httpx

from bay_mcp.drivers import DriverError
from bay_mcp.drivers.docker import DockerDriver
from bay_mcp.drivers.docker_egress import ProxySpec
from bay_mcp.errors import BayError
from bay_mcp.metrics import Metrics
from bay_mcp.settings import EgressSettings, Profile
from bay_mcp.storage.egress_log import EgressLogRepository
from bay_mcp.storage.models import Sandbox
from ship.egress.protocol import LogPage, Registrations, SandboxEgress

log = logging.getLogger(__name__)

LONG_POLL_S = 20.0
START_DEADLINE_S = 30.0
# After a failed start, the next try waits this long (doubling, to the cap).
RETRY_S, RETRY_CAP_S = 0.5, 10.0

Registrar = Callable[[], Awaitable[list[SandboxEgress]]]


@dataclass(frozen=True)
class EgressPlan:
    """What a session's container gets: its network, and for `egress` the proxy it
    joins and the variables that point every tool at it."""

    network: Literal["bridge", "none", "egress"]
    proxy: str | None = None
    env: dict[str, str] = field(default_factory=dict)


class EgressHook(Protocol):
    """What the session manager asks of egress (services/egress.py answers)."""

    async def plan(self, sandbox: Sandbox, profile: Profile) -> EgressPlan: ...

    async def started(self, sandbox: Sandbox, profile: Profile, address: str) -> None: ...

    async def stopped(self, address: str) -> None: ...


class EgressProxy:
    def __init__(
        self,
        driver: DockerDriver,
        settings: EgressSettings,
        spec: ProxySpec,
        log_rows: EgressLogRepository,
        metrics: Metrics,
    ) -> None:
        self._driver = driver
        self._settings = settings
        self._spec = spec
        self._log_rows = log_rows
        self._metrics = metrics
        self._token = spec.env["BAY_EGRESS_TOKEN"]
        self._url: str | None = None
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        self._registrar: Registrar | None = None
        self._stopping = asyncio.Event()
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=httpx.Timeout(10.0, read=LONG_POLL_S + 10.0),
        )

    @property
    def name(self) -> str:
        return self._spec.name

    def set_registrar(self, registrar: Registrar) -> None:
        """What the proxy is told after a start: every proxied sandbox running."""
        self._registrar = registrar

    async def ensure(self) -> str:
        """The proxy, running and answering (started when it is not); its container's
        name, for the session networks to join."""
        async with self._lock:
            if self._url is None or not await self._answers(self._url):
                self._url = await self._start()
            if self._watch is None or self._watch.done():
                self._watch = asyncio.create_task(self._watch_log(), name="egress-log")
        return self._spec.name

    async def _start(self) -> str:
        try:
            url = await self._driver.ensure_egress_proxy(self._spec)
        except DriverError as exc:
            raise DriverError(
                f"the egress proxy could not start: {exc.message}", {"retry_after_ms": 2000}
            ) from exc
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_DEADLINE_S
        while not await self._answers(url):  # a poll with a deadline: it boots in ~1 s
            if loop.time() > deadline:
                logs = await self._driver.logs(self._spec.name)
                raise DriverError(
                    f"the egress proxy did not answer within {START_DEADLINE_S:g} s: {logs}",
                    {"retry_after_ms": 2000},
                )
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.1)
        if self._registrar is not None:
            await self._send_all(url, await self._registrar())
        log.info("egress proxy %s answers at %s", self._spec.name, url)
        return url

    async def _answers(self, url: str) -> bool:
        try:
            response = await self._client.get(f"{url}/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _send_all(self, url: str, sandboxes: list[SandboxEgress]) -> None:
        body = Registrations(sandboxes=sandboxes).model_dump_json()
        response = await self._client.put(f"{url}/sandboxes", content=body)
        response.raise_for_status()

    async def register(self, sandbox: SandboxEgress) -> None:
        """Tell the proxy of a sandbox (its address, policies, bindings)."""
        await self.ensure()
        assert self._url is not None
        try:
            response = await self._client.put(
                f"{self._url}/sandboxes/{sandbox.address}", content=sandbox.model_dump_json()
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise DriverError(
                f"the egress proxy did not take sandbox {sandbox.sandbox_id}: {exc}",
                {"retry_after_ms": 2000},
            ) from exc

    async def forget(self, address: str) -> None:
        """The sandbox at `address` is gone; best effort (a restart forgets it too)."""
        if self._url is None:
            return
        with suppress(httpx.HTTPError):
            await self._client.delete(f"{self._url}/sandboxes/{address}")

    async def _watch_log(self) -> None:
        after, retry = 0, RETRY_S
        while not self._stopping.is_set():
            url = self._url
            try:
                if url is None:
                    raise httpx.ConnectError("not started")
                response = await self._client.get(
                    f"{url}/log", params={"after": after, "wait": LONG_POLL_S}
                )
                response.raise_for_status()
                page = LogPage.model_validate_json(response.content)
            except httpx.HTTPError as exc:
                log.warning("egress proxy: %s; starting it again", exc)
                try:
                    async with self._lock:
                        self._url = None
                        self._url = await self._start()
                    retry = RETRY_S
                except (BayError, httpx.HTTPError) as start_error:
                    log.warning("egress proxy: %s", start_error)
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), retry)
                    retry = min(retry * 2, RETRY_CAP_S)
                continue
            after = page.next_seq
            if page.dropped:
                log.warning(
                    "egress proxy: %d log entries dropped before Bay read them", page.dropped
                )
            await self._ingest(page)

    async def _ingest(self, page: LogPage) -> None:
        if not page.entries:
            return
        for entry in page.entries:
            decision = "allowed" if entry.allowed else "refused"
            self._metrics.egress_requests.labels(decision=decision).inc()
        rows: list[dict[str, object]] = [
            entry.model_dump(exclude={"seq"}) for entry in page.entries
        ]
        try:
            await self._log_rows.add(rows, self._settings.log_entries_per_sandbox)
        except Exception:  # the log must not stop the watch
            log.exception("egress proxy: %d log entries could not be stored", len(rows))

    async def close(self) -> None:
        """Stop watching; the proxy runs on for the sandboxes that still run."""
        self._stopping.set()
        if self._watch is not None:
            self._watch.cancel()
            with suppress(asyncio.CancelledError):
                await self._watch
        await self._client.aclose()
