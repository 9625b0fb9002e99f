"""A subscriber's side, shared by the subscription tests (in memory, stdio, HTTP): the
legacy `notifications/resources/updated` as they arrive, and a listen stream's next
event, each waited for with a deadline instead of hanging a test."""

from __future__ import annotations

import asyncio

from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import Subscription
from mcp.shared.subscriptions import ServerEvent
from mcp_types import ResourceUpdatedNotification


class Updates:
    """The `notifications/resources/updated` a legacy client receives, in order."""

    def __init__(self, timeout: float = 60) -> None:
        self.uris: list[str] = []
        self._arrived = asyncio.Condition()
        self._timeout = timeout

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            async with self._arrived:
                self.uris.append(str(message.params.uri))
                self._arrived.notify_all()

    async def until(self, count: int) -> list[str]:
        async with asyncio.timeout(self._timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.uris) >= count)
        return self.uris


async def next_of(events: Subscription, timeout: float = 60) -> ServerEvent:
    """The stream's next event; a missing one fails the test instead of hanging it."""
    async with asyncio.timeout(timeout):
        return await anext(events)
