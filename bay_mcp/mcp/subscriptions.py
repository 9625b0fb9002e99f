"""Subscriptions: a client hears when a sandbox's cargo changes, and when its resource
or prompt list does.

Two ways in, as the SDK offers them:
- 2026-07-28: `subscriptions/listen`, a stream the SDK's `ListenHandler` serves from a
  `SubscriptionBus`; the bus here (`OwnerScopedBus`) gives each stream only its
  owner's events.
- earlier versions: `resources/subscribe` and `resources/unsubscribe` on a connection
  that has a channel for notifications (stdio, SSE, stateful streamable HTTP);
  `LegacySubscriptions` keeps each connection's URIs and sends its updates.

Events come from the service layer (`bay_mcp.services.changes`), so a change made over
REST is heard too; `relay` turns them into the SDK's events, each stamped with its
owner. Ownership is enforced twice: a legacy subscribe to a URI not of the caller's
sandboxes is refused, and at delivery an event reaches only its owner's streams and
connections (a listen filter naming another owner's URI is acknowledged, as the SDK
acknowledges any URI, and never fires).

Bounded per client: a listen stream holds at most PER_CLIENT events (the SDK then
ends it: the client listens again and refetches); a legacy connection holds at most
PER_CLIENT distinct pending URIs, and drops the rest with a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
)
from mcp_types import (
    INVALID_PARAMS,
    DiscoverResult,
    EmptyResult,
    RequestParams,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    UnsubscribeRequestParams,
)

from bay_mcp.errors import BayError
from bay_mcp.services.changes import CargoChanged, Change

if TYPE_CHECKING:
    from bay_mcp.mcp.plumbing import BayMCPServer

log = logging.getLogger(__name__)

PER_CLIENT = 256

# The owner of the listen stream being opened: `OwnerScopedBus.subscribe` reads it
# (the SDK's handler subscribes from inside its own call, in the same task).
_listening_owner: ContextVar[str | None] = ContextVar("listening_owner", default=None)


@dataclass(frozen=True)
class OwnedResourceUpdated(ResourceUpdated):
    owner: str


@dataclass(frozen=True)
class OwnedResourcesListChanged(ResourcesListChanged):
    owner: str


@dataclass(frozen=True)
class OwnedPromptsListChanged(PromptsListChanged):
    owner: str


def visible(event: ServerEvent, owner: str) -> bool:
    """Whether `owner` may hear `event`: its own, or one that is nobody's."""
    event_owner = getattr(event, "owner", None)
    return event_owner is None or event_owner == owner


class OwnerScopedBus:
    """A `SubscriptionBus` whose listeners, subscribed for an owner, hear only that
    owner's events. Over the SDK's in-process bus unless given another."""

    def __init__(self, inner: SubscriptionBus | None = None) -> None:
        self.inner: SubscriptionBus = inner or InMemorySubscriptionBus()

    async def publish(self, event: ServerEvent) -> None:
        await self.inner.publish(event)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        owner = _listening_owner.get()
        if owner is None:
            return self.inner.subscribe(listener)

        def owners_only(event: ServerEvent) -> None:
            if visible(event, owner):
                listener(event)

        return self.inner.subscribe(owners_only)


async def relay(bus: SubscriptionBus, change: Change) -> None:
    """A change from the services, as the SDK's events on `bus`."""
    if isinstance(change, CargoChanged):
        for uri in change.uris:
            await bus.publish(OwnedResourceUpdated(uri=uri, owner=change.owner))
    elif change.what == "resources":
        await bus.publish(OwnedResourcesListChanged(owner=change.owner))
    else:
        await bus.publish(OwnedPromptsListChanged(owner=change.owner))


class OwnersListen(ListenHandler):
    """The SDK's `subscriptions/listen` handler, each stream scoped to its caller."""

    def __init__(self, server: BayMCPServer, bus: SubscriptionBus) -> None:
        super().__init__(bus, max_buffered_events=PER_CLIENT)
        self._server = server

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], params: SubscriptionsListenRequestParams
    ) -> SubscriptionsListenResult:
        owner = await self._server.subscriber(ctx)
        token = _listening_owner.set(owner)
        try:
            return await super().__call__(ctx, params)
        finally:
            _listening_owner.reset(token)


class _Connection:
    """One legacy connection's subscriptions and its bounded queue of updates."""

    def __init__(self, session: ServerSession, owner: str) -> None:
        self.owner = owner
        self.uris: set[str] = set()
        self._session = session
        self._pending: set[str] = set()  # a URI once in the queue: updates are level triggers
        self._send, self._receive = anyio.create_memory_object_stream[str](PER_CLIENT)
        self._sending = asyncio.create_task(self._send_all(), name="resource-updates")

    def offer(self, uri: str) -> None:
        if uri in self._pending:
            return
        try:
            self._send.send_nowait(uri)
        except anyio.WouldBlock:
            log.warning(
                "a subscriber is %d updates behind: dropped the one for %s", PER_CLIENT, uri
            )
            return
        except anyio.ClosedResourceError:
            return
        self._pending.add(uri)

    async def _send_all(self) -> None:
        async for uri in self._receive:
            self._pending.discard(uri)
            try:
                await self._session.send_resource_updated(uri)
            except Exception as exc:  # a gone client: its connection's end forgets it
                log.info("could not send a resource update for %s: %s", uri, exc)

    def close(self) -> None:
        self._send.close()
        self._receive.close()
        self._sending.cancel()


class LegacySubscriptions:
    """`resources/subscribe` and `resources/unsubscribe`, per connection."""

    def __init__(self, server: BayMCPServer, bus: SubscriptionBus) -> None:
        self._server = server
        self._connections: dict[Connection, _Connection] = {}
        bus.subscribe(self._deliver)

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        owner = await self._server.subscriber(ctx)
        uri = str(params.uri)
        await self._check(owner, uri)
        # The SDK hands a handler no public handle on its connection; its session holds
        # it, and it is what outlives the request (the channel, and the end to clean up at).
        connection: Connection = ctx.session._connection
        if not connection.has_standalone_channel:
            raise MCPError(
                code=INVALID_PARAMS,
                message="this connection cannot carry notifications (stateless HTTP): use "
                "subscriptions/listen (protocol 2026-07-28), or a stateful session or SSE",
            )
        subscriber = self._connections.get(connection)
        if subscriber is None:
            subscriber = self._connections[connection] = _Connection(ctx.session, owner)
            connection.exit_stack.callback(self._forget, connection)
        subscriber.uris.add(uri)
        return EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        subscriber = self._connections.get(ctx.session._connection)
        if subscriber is not None:
            subscriber.uris.discard(str(params.uri))
        return EmptyResult()

    async def _check(self, owner: str, uri: str) -> None:
        """Refuse a URI that is not a file or directory of the owner's sandboxes."""
        parts = urlsplit(uri)
        if parts.scheme != "cargo" or not parts.netloc:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"{uri} cannot be subscribed to: only cargo://{{sandbox_id}}/{{path}} "
                "URIs (a file, or cargo://{sandbox_id}/ for the whole workspace) change",
            )
        bay = await self._server.ready()
        try:
            await bay.sandboxes.check_owner(owner, parts.netloc)
        except BayError as exc:
            raise MCPError(code=INVALID_PARAMS, message=exc.message) from exc

    def _deliver(self, event: ServerEvent) -> None:
        if not isinstance(event, ResourceUpdated):
            return  # list changes reach listen streams only (not announced here)
        for subscriber in self._connections.values():
            if event.uri in subscriber.uris and visible(event, subscriber.owner):
                subscriber.offer(event.uri)

    def _forget(self, connection: Connection) -> None:
        subscriber = self._connections.pop(connection, None)
        if subscriber is not None:
            with contextlib.suppress(Exception):
                subscriber.close()


def serve(server: BayMCPServer) -> None:
    """Serve both ways in on `server`, and announce only what is served: at 2026-07-28
    the SDK announces `tools.listChanged` whenever listen is served, but Bay's tools
    never change while it runs, so no such event is ever sent."""
    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler(
        "subscriptions/listen", SubscriptionsListenRequestParams, OwnersListen(server, server.bus)
    )
    legacy = LegacySubscriptions(server, server.bus)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, legacy.subscribe)
    lowlevel.add_request_handler(
        "resources/unsubscribe", UnsubscribeRequestParams, legacy.unsubscribe
    )
    discover = lowlevel._handle_discover

    async def discover_served(
        ctx: ServerRequestContext[Any, Any], params: RequestParams
    ) -> DiscoverResult:
        result = await discover(ctx, params)
        tools = result.capabilities.tools
        if tools is not None:
            tools.list_changed = False
        return result

    lowlevel.add_request_handler("server/discover", RequestParams, discover_served)
