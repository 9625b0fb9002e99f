"""Exposed ports: a server that user code started in a sandbox, made reachable from
outside it. Over HTTP, Bay's own proxy under `/v1/sandboxes/{id}/ports/{port}/` serves
it (with the owner's key, or a signed URL for a person's browser); over stdio, a
loopback port forward does.

An exposure belongs to the session it was made in: a stop, an idle reap or a crash
ends it. Nothing has to tell this service: every request checks the sandbox's current
session against the exposure's, so nothing stale is ever served.

Over HTTP the exposures are rows of the database: every Bay process sharing it (the
replicas behind one load balancer) serves every exposure, and a restart keeps them
while their session lives. Over stdio they are loopback forwards in this process's
memory, closed with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from bay_mcp.adapters.loopback import Connect, LoopbackForward, Streams
from bay_mcp.adapters.ship_client import ShipEndpoint
from bay_mcp.drivers import Driver
from bay_mcp.errors import NotFound, ShipError, ValidationFailed
from bay_mcp.managers import Progress, no_progress
from bay_mcp.managers.activity import ActivityClock
from bay_mcp.managers.locks import KeyedLocks
from bay_mcp.managers.sessions import SessionManager
from bay_mcp.services.preview_tokens import PreviewTokens
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.views import ExposedPort
from bay_mcp.settings import Capability
from bay_mcp.storage.database import Database
from bay_mcp.storage.exposures import ExposureRepository
from bay_mcp.storage.models import Exposure, Session, utcnow
from ship.settings import DEFAULT_PORT as SHIP_PORT

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
TOKEN_PARAMETER = "bay_token"


@dataclass(eq=False)
class _Exposure:
    sandbox_id: str
    port: int
    owner: str
    session_id: str
    created_at: datetime = field(default_factory=utcnow)
    # Over stdio, the loopback forward that serves it.
    forward: LoopbackForward | None = None


def not_listening(sandbox_id: str, port: int) -> ShipError:
    return ShipError(
        f"nothing answers on port {port} of sandbox {sandbox_id}: start the server first "
        f"(e.g. process_start 'python3 -m http.server {port}'), and "
        "check it listens on 0.0.0.0, not only on 127.0.0.1",
        {"port": port},
    )


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ValidationFailed(f"port must be 1–65535, not {port}", {"fields": ["port"]})
    if port == SHIP_PORT:
        raise ValidationFailed(
            f"port {SHIP_PORT} is the sandbox runtime's own; serve on another port",
            {"fields": ["port"]},
        )


class PortService:
    def __init__(
        self,
        sandboxes: SandboxService,
        sessions: SessionManager,
        driver: Driver,
        activity: ActivityClock,
        tokens: PreviewTokens,
        db: Database,
    ) -> None:
        self._rows = ExposureRepository(db)
        self._sandboxes = sandboxes
        self._sessions = sessions
        self._driver = driver
        self._activity = activity
        self.tokens = tokens
        # Over stdio: this process's loopback forwards. Over HTTP: the database's rows,
        # with the containers' addresses remembered by session.
        self._exposures: dict[tuple[str, int], _Exposure] = {}
        self._addresses: dict[str, str] = {}
        self._lock = KeyedLocks()  # one per sandbox
        # Set by the HTTP server: URLs go through its proxy. Unset (stdio): loopback forwards.
        self.public_url: str | None = None
        # Set by the composition root: gives a server a process just started the time to
        # listen on the port (bounded) before it is exposed.
        self.listening: Callable[[ShipEndpoint, int], Awaitable[None]] | None = None

    def serve_through(self, public_url: str) -> None:
        """Make previews go through the HTTP proxy at `public_url` (no loopback forwards)."""
        self.public_url = public_url.rstrip("/")

    async def expose(
        self, owner: str, sandbox_id: str, port: int, progress: Progress = no_progress
    ) -> ExposedPort:
        """Make `port` of the sandbox reachable; starts the sandbox if it is not running.

        Exposing a port twice returns the same exposure (with a fresh signed URL).
        Raises ValidationFailed (a bad port), NotFound, and what a start raises.
        """
        _check_port(port)
        view = await self._sandboxes.get(owner, sandbox_id)
        # Any capability will do: a server is started with whichever the profile has.
        capability = cast(Capability, view.capabilities[0])
        async with self._sandboxes.runtime(owner, sandbox_id, capability, progress) as endpoint:
            if self.listening is not None:
                await self.listening(endpoint, port)
            session = await self._sessions.current(sandbox_id)
        if session is None:  # stopped between the start and here
            raise NotFound(f"sandbox {sandbox_id} stopped while its port was being exposed")
        if self.public_url is not None:
            return self._view(await self._store(owner, sandbox_id, port, session.id))
        async with self._lock(sandbox_id):
            exposure = self._exposures.get((sandbox_id, port))
            if exposure is not None and exposure.session_id != session.id:
                await self._drop(exposure)
                exposure = None
            if exposure is None:
                exposure = _Exposure(sandbox_id, port, owner, session.id)
                exposure.forward = LoopbackForward(self._connector(exposure))
                await exposure.forward.start()
                self._exposures[(sandbox_id, port)] = exposure
                log.info("sandbox %s: port %d exposed", sandbox_id, port)
        return self._view(exposure)

    async def _store(self, owner: str, sandbox_id: str, port: int, session_id: str) -> _Exposure:
        """The port's row for this session, made (or remade over a stale one's) if need be."""
        row, made = await self._rows.store(owner, sandbox_id, port, session_id)
        if made:
            log.info("sandbox %s: port %d exposed", sandbox_id, port)
        return _from_row(row)

    async def _stored(self, sandbox_id: str, port: int | None = None) -> list[_Exposure]:
        """Over HTTP: the sandbox's exposures (of one port, when given) in the database."""
        return [_from_row(row) for row in await self._rows.of_sandbox(sandbox_id, port)]

    async def _known(self, sandbox_id: str, port: int) -> _Exposure | None:
        if self.public_url is None:
            return self._exposures.get((sandbox_id, port))
        found = await self._stored(sandbox_id, port)
        return found[0] if found else None

    async def list(self, owner: str, sandbox_id: str) -> list[ExposedPort]:
        """The sandbox's exposed ports (those of its current session), by port."""
        await self._sandboxes.check_owner(owner, sandbox_id)
        session = await self._sessions.current(sandbox_id)
        views = []
        if self.public_url is not None:
            exposures = await self._stored(sandbox_id)
        else:
            exposures = [e for e in self._exposures.values() if e.sandbox_id == sandbox_id]
        for exposure in exposures:
            if _is_current(exposure, session):
                views.append(self._view(exposure))
            else:
                await self._drop(exposure)
        return sorted(views, key=lambda view: view.port)

    async def unexpose(self, owner: str, sandbox_id: str, port: int) -> bool:
        """Close the port's exposure; False if it was not exposed (not an error)."""
        await self._sandboxes.check_owner(owner, sandbox_id)
        exposure = await self._known(sandbox_id, port)
        if exposure is None:
            return False
        await self._drop(exposure)
        return True

    def held(self, sandbox_id: str) -> AbstractAsyncContextManager[None]:
        """While a preview's WebSocket is open its sandbox is in use (never paused or
        stopped under a page that is connected to it)."""
        return self._sessions.using(sandbox_id)

    async def target(self, owner: str, sandbox_id: str, port: int) -> tuple[str, int]:
        """Where a request to the exposed port goes now: the container's address and port.

        Raises NotFound (not the owner's sandbox, the port is not exposed, or its
        session has ended) or ShipError (the container has no address).
        """
        await self._sandboxes.check_owner(owner, sandbox_id)
        exposure = await self._known(sandbox_id, port)
        if exposure is None:
            raise NotFound(
                f"port {port} of sandbox {sandbox_id} is not exposed: call expose_port first",
                {"port": port},
            )
        session = await self._sessions.current(sandbox_id)
        if not _is_current(exposure, session):
            await self._drop(exposure)
            raise NotFound(
                f"port {port} of sandbox {sandbox_id} was closed when the sandbox stopped: "
                "start the server again and call expose_port",
                {"port": port},
            )
        assert session is not None
        assert session.container_id is not None
        if session.observed_state == "paused":
            await self._sessions.thaw(sandbox_id)  # a visitor wakes a paused sandbox
        address = self._addresses.get(session.id)
        if address is None:
            info = await self._driver.inspect(session.container_id)
            if info.address is None:
                raise ShipError(f"sandbox {sandbox_id}'s container has no network address")
            address = self._addresses[session.id] = info.address
        self._activity.touch(sandbox_id)  # someone using the preview keeps the sandbox up
        return address, port

    def signed_path(self, sandbox_id: str, port: int, owner: str) -> tuple[str, datetime]:
        """The proxy's path for the port with a signed token, and the token's expiry."""
        token, expires = self.tokens.sign(sandbox_id, port, owner)
        return f"{proxy_path(sandbox_id, port)}/?{TOKEN_PARAMETER}={token}", expires

    def _view(self, exposure: _Exposure) -> ExposedPort:
        expires: datetime | None = None
        if exposure.forward is not None:
            url = f"http://127.0.0.1:{exposure.forward.port}/"
        else:
            assert self.public_url is not None
            path, expires = self.signed_path(exposure.sandbox_id, exposure.port, exposure.owner)
            url = self.public_url + path
        return ExposedPort(
            sandbox_id=exposure.sandbox_id,
            port=exposure.port,
            url=url,
            local_url=f"http://localhost:{exposure.port}/",
            expires_at=expires,
            created_at=exposure.created_at,
        )

    def _connector(self, exposure: _Exposure) -> Connect:
        async def connect() -> Streams:
            host, port = await self.target(exposure.owner, exposure.sandbox_id, exposure.port)
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(host, port), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError) as exc:
                raise not_listening(exposure.sandbox_id, exposure.port) from exc

        return connect

    async def _drop(self, exposure: _Exposure) -> None:
        self._addresses.pop(exposure.session_id, None)
        if exposure.forward is None:  # a row: this session's exposure of the port only
            await self._rows.delete(exposure.sandbox_id, exposure.port, exposure.session_id)
            log.info("sandbox %s: port %d closed", exposure.sandbox_id, exposure.port)
            return
        if self._exposures.get((exposure.sandbox_id, exposure.port)) is exposure:
            del self._exposures[(exposure.sandbox_id, exposure.port)]
            log.info("sandbox %s: port %d closed", exposure.sandbox_id, exposure.port)
        await exposure.forward.close()

    async def close(self) -> None:
        """Close this process's loopback forwards (Bay is shutting down); exposures in
        the database stay for the other processes, and for this one's next start."""
        for exposure in list(self._exposures.values()):
            try:
                await self._drop(exposure)
            except Exception:
                log.exception("closing port %d of sandbox %s", exposure.port, exposure.sandbox_id)


def proxy_path(sandbox_id: str, port: int) -> str:
    return f"/v1/sandboxes/{sandbox_id}/ports/{port}"


def _from_row(row: Exposure) -> _Exposure:
    return _Exposure(row.sandbox_id, row.port, row.owner, row.session_id, row.created_at)


def _is_current(exposure: _Exposure, session: Session | None) -> bool:
    return (
        session is not None
        and session.id == exposure.session_id
        and session.observed_state in ("ready", "paused")
        and session.container_id is not None
    )
