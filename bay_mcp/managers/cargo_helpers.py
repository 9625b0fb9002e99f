"""Cargo helpers: a Ship of its own per cargo, to reach its files with no sandbox.

A helper is a container of the Ship image with the cargo's volume at /workspace,
labelled with the cargo but with no sandbox or session: the sandbox's container is
never started for it. It runs the same Ship as a sandbox, so a file read or written
through it has the sandbox's shapes, limits, path rules and owner (the sandbox user,
uid 1000). Its first call waits for it to start (about a second, as a sandbox's
start); calls within `idle_s` of the last reuse it; the sweeper removes it after
that, or once it is `max_age_s` old. The reaper treats an older one as an orphan
(a Bay that died left it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace

from bay_mcp.adapters.ship_client import ShipClient, ShipEndpoint
from bay_mcp.drivers import ContainerSpec, Driver
from bay_mcp.errors import ShipError, Timeout
from bay_mcp.limits import MB
from bay_mcp.managers import Progress, labels
from bay_mcp.managers.images import ImageProvider
from bay_mcp.managers.locks import KeyedLocks
from bay_mcp.settings import Profile
from bay_mcp.storage.models import Cargo

log = logging.getLogger(__name__)

HELPER_IDLE_S = 30.0
HELPER_MAX_AGE_S = 300.0
_POLL_S = 0.02
_SWEEP_EVERY_S = 5.0


@dataclass
class _Helper:
    container_id: str
    volume: str
    endpoint: ShipEndpoint
    started: float
    last_used: float
    users: int = 0


class CargoHelpers:
    def __init__(
        self,
        driver: Driver,
        ship: ShipClient,
        images: ImageProvider,
        profile: Profile,
        *,
        instance_id: str,
        start_timeout: float,
        idle_s: float = HELPER_IDLE_S,
        max_age_s: float = HELPER_MAX_AGE_S,
    ) -> None:
        self._driver = driver
        self._ship = ship
        self._images = images
        # Image, network and runtime of the helpers: the default profile's.
        self._profile = profile
        self._instance_id = instance_id
        self._start_timeout = start_timeout
        self._idle_s = idle_s
        self._max_age_s = max_age_s
        self._helpers: dict[str, _Helper] = {}
        self._locks = KeyedLocks()  # one per cargo
        self._sweeper: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def endpoint(self, cargo: Cargo, progress: Progress) -> AsyncIterator[ShipEndpoint]:
        """The cargo's helper, started if needed, held (not swept) while the caller uses
        it. DriverError, ShipError or Timeout when it cannot start."""
        async with self._locks(cargo.id):
            helper = self._helpers.get(cargo.id)
            if helper is None:
                helper = await self._start(cargo, progress)
                self._helpers[cargo.id] = helper
            helper.users += 1
        used = helper

        async def recover() -> ShipEndpoint:
            # The helper is gone (removed behind Bay's back): a new one, once.
            nonlocal used
            async with self._locks(cargo.id):
                if self._helpers.get(cargo.id) is used:
                    del self._helpers[cargo.id]
                    await self._remove(used)
                fresh = self._helpers.get(cargo.id) or await self._start(cargo, progress)
                self._helpers[cargo.id] = fresh
                used.users -= 1
                fresh.users += 1
                used = fresh
            return fresh.endpoint

        try:
            yield replace(helper.endpoint, recover=recover)
        finally:
            used.users -= 1
            used.last_used = time.monotonic()

    async def _start(self, cargo: Cargo, progress: Progress) -> _Helper:
        await self._images.ensure(self._profile.image, progress)
        await progress(f"starting a helper for cargo {cargo.id}'s files")
        token = secrets.token_urlsafe(32)
        env = {"SHIP_TOKEN": token, "SHIP_CARGO_HELPER": "1"}
        if cargo.size_limit_mb is not None:
            env["SHIP_WORKSPACE_LIMIT_BYTES"] = str(cargo.size_limit_mb * MB)
        info = await self._driver.run_container(
            ContainerSpec(
                name=f"bay-cargo-files-{secrets.token_hex(6)}",
                image=self._profile.image,
                volume=cargo.driver_ref,
                env=env,
                labels={
                    labels.INSTANCE: self._instance_id,
                    labels.OWNER: cargo.owner,
                    labels.CARGO: cargo.id,
                    labels.ROLE: labels.CARGO_FILES_ROLE,
                    labels.MANAGED: "true",
                },
                cpus=1.0,
                memory_mb=512,
                pids_limit=128,
                network=self._profile.network,
                runtime=self._profile.runtime,
            )
        )
        try:
            endpoint = await self._wait_ready(info.id, token)
        except BaseException:
            await asyncio.shield(self._driver.remove_container(info.id))
            raise
        self._ensure_sweeper()
        now = time.monotonic()
        log.info("cargo %s: files helper %s ready", cargo.id, info.id[:12])
        return _Helper(info.id, cargo.driver_ref, endpoint, started=now, last_used=now)

    async def _wait_ready(self, container_id: str, token: str) -> ShipEndpoint:
        deadline = time.monotonic() + self._start_timeout
        endpoint: ShipEndpoint | None = None
        while True:
            if endpoint is None:
                info = await self._driver.inspect(container_id)
                if info.state in ("exited", "missing"):
                    logs = await self._driver.logs(container_id, tail=20)
                    raise ShipError(
                        f"the cargo's files helper stopped while starting (exit code "
                        f"{info.exit_code}); its last log lines:\n{logs.strip()}"
                    )
                if info.endpoint is not None:
                    endpoint = ShipEndpoint(info.endpoint, token)
            if endpoint is not None and await self._ship.healthy(endpoint):
                return endpoint
            if time.monotonic() > deadline:
                raise Timeout(
                    f"the cargo's files helper did not answer within {self._start_timeout:g} "
                    "s and was removed: try again"
                )
            await asyncio.sleep(_POLL_S)

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="cargo-helpers")

    async def _sweep_forever(self) -> None:
        while self._helpers:
            await asyncio.sleep(_SWEEP_EVERY_S)
            await self.sweep()

    async def sweep(self) -> int:
        """Remove the helpers unused for `idle_s` or older than `max_age_s`; how many."""
        now = time.monotonic()
        removed = 0
        for cargo_id, helper in list(self._helpers.items()):
            idle = now - helper.last_used >= self._idle_s
            old = now - helper.started >= self._max_age_s
            if helper.users or not (idle or old):
                continue
            async with self._locks(cargo_id):
                if self._helpers.get(cargo_id) is not helper or helper.users:
                    continue
                del self._helpers[cargo_id]
            await self._remove(helper)
            removed += 1
        return removed

    async def discard(self, cargo_id: str) -> None:
        """Remove the cargo's helper now (its volume is about to go)."""
        async with self._locks(cargo_id):
            helper = self._helpers.pop(cargo_id, None)
        if helper is not None:
            await self._remove(helper)

    async def discard_volume(self, volume: str) -> None:
        """Remove the helper mounting `volume`, if any (the volume is about to go)."""
        for cargo_id, helper in list(self._helpers.items()):
            if helper.volume == volume:
                await self.discard(cargo_id)

    async def _remove(self, helper: _Helper) -> None:
        try:
            await self._driver.remove_container(helper.container_id)
        except Exception as exc:  # the reaper removes it as an orphan later
            log.warning("could not remove files helper %s: %s", helper.container_id[:12], exc)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._sweeper
        for cargo_id in list(self._helpers):
            await self.discard(cargo_id)
