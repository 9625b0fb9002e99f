"""Changes across replicas: on PostgreSQL, each Bay sends the changes made through it
(`bay_mcp.services.changes`) with NOTIFY and hears the others' with LISTEN, so a file a
run writes through replica A reaches a subscriber connected to replica B.

At most once, as NOTIFY is: a replica that is not listening at that moment (restarting,
its connection lost) misses what was sent meanwhile; the connection is made again.
On SQLite there is one Bay and nothing to do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

import asyncpg
from sqlalchemy import make_url

from bay_mcp.services.changes import CargoChanged, Change, Changes, ListChanged

log = logging.getLogger(__name__)

CHANNEL = "bay_changes"
# A NOTIFY payload stops at 8000 bytes: a change naming many files is sent in parts of
# at most this many bytes of URIs; a URI longer than that alone is left to the root's.
URI_BYTES_PER_NOTIFY = 6000
RECONNECT_SECONDS = 1.0


def encode(change: Change, origin: str) -> list[str]:
    if isinstance(change, ListChanged):
        return [json.dumps({"from": origin, "owner": change.owner, "list": change.what})]
    parts: list[list[str]] = [[]]
    size = 0
    for uri in change.uris:
        length = len(json.dumps(uri).encode())
        if length > URI_BYTES_PER_NOTIFY:
            continue
        if size + length > URI_BYTES_PER_NOTIFY:
            parts.append([])
            size = 0
        parts[-1].append(uri)
        size += length + 2
    return [
        json.dumps(
            {"from": origin, "owner": change.owner, "sandbox": change.sandbox_id, "uris": part}
        )
        for part in parts
    ]


def decode(payload: str) -> tuple[str, Change]:
    data: dict[str, Any] = json.loads(payload)
    if "list" in data:
        return data["from"], ListChanged(data["owner"], data["list"])
    return data["from"], CargoChanged(data["owner"], data["sandbox"], tuple(data["uris"]))


class ChangeFeed:
    """LISTEN/NOTIFY on one connection of its own, for one Bay's `changes`."""

    def __init__(self, url: str, changes: Changes) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._changes = changes
        self._origin = secrets.token_hex(8)  # its own notifications come back: skipped
        self._connection: asyncpg.Connection | None = None
        self._sending = asyncio.Lock()  # one statement at a time on a connection
        self._arrivals: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._connect()
        self._changes.fan_out(self._send)

    async def close(self) -> None:
        self._changes.fan_out(None)
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()
        for task in list(self._arrivals):
            task.cancel()

    async def _connect(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        await connection.add_listener(CHANNEL, self._heard)
        connection.add_termination_listener(self._lost)
        self._connection = connection

    async def _send(self, change: Change) -> None:
        async with self._sending:
            connection = self._connection
            if connection is None or connection.is_closed():
                return  # being made again: at most once
            for payload in encode(change, self._origin):
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)

    def _heard(self, connection: Any, pid: int, channel: str, payload: object) -> None:
        try:
            origin, change = decode(str(payload))
        except (ValueError, KeyError, TypeError):
            log.warning("a change notification Bay cannot read: %.200s", payload)
            return
        if origin != self._origin:
            self._spawn(self._changes.arrived(change))

    def _lost(self, connection: Any) -> None:
        if self._connection is connection:
            log.warning("the change feed's connection was lost; making it again")
            self._connection = None
            self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        while self._changes.fanning_out and self._connection is None:
            try:
                await self._connect()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("the change feed cannot connect: %s", exc)
                await asyncio.sleep(RECONNECT_SECONDS)

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._arrivals.add(task)
        task.add_done_callback(self._arrivals.discard)
