"""Sealing the 2026-07-28 `requestState` under a key every Bay replica shares.

At 2026-07-28 a call that needs more from the client (a confirmation, say) answers
`input_required` with a `requestState` the SDK seals; the client retries with it, and
behind a balancer without stickiness the retry may reach another replica. The SDK's
default key is made per process, so that replica would refuse the state ("Invalid or
expired requestState"). Bay's key is kept in the database (`Bay.request_state_key`, as
the preview URLs' signing secret is), so any replica opens what another sealed.

The key is known only once Bay has started (it is read from the database), while the
server is built before: the codec takes it late, from a middleware that awaits Bay
before the SDK's boundary seals or opens anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.request_state import (
    AESGCMRequestStateCodec,
    InvalidRequestState,
    RequestStateSecurity,
)
from mcp_types.methods import INPUT_REQUIRED_METHODS

if TYPE_CHECKING:
    from bay_mcp.bay import Bay

log = logging.getLogger(__name__)

# The audience sealed into every state: a state minted by another service that happens
# to share the key is refused.
AUDIENCE = "bay"
# How long a client may take to answer (a person reading a confirmation).
TTL_S = 600.0


class SharedKeyCodec:
    """AES-256-GCM over the installation's key, given once Bay has read it."""

    def __init__(self) -> None:
        self._codec: AESGCMRequestStateCodec | None = None

    @property
    def has_key(self) -> bool:
        return self._codec is not None

    def use_key(self, key: bytes) -> None:
        self._codec = AESGCMRequestStateCodec([key])

    def seal(self, payload: bytes) -> str:
        if self._codec is None:  # the SDK answers an internal error: nothing leaks
            raise RuntimeError("the request-state key is not loaded yet")
        return self._codec.seal(payload)

    def unseal(self, token: str) -> bytes:
        if self._codec is None:
            raise InvalidRequestState("no key")
        return self._codec.unseal(token)


def request_state_security(
    codec: SharedKeyCodec, principal: Callable[[ServerRequestContext[Any, Any]], str]
) -> RequestStateSecurity:
    """The policy: `codec`'s shared key, Bay's audience, and each state bound to the
    owner that made the call (`principal`), so one owner's state is refused to another.
    The SDK's own binding reads its OAuth token, which Bay's bearer keys are not."""
    return RequestStateSecurity(codec=codec, ttl=TTL_S, bind_principal=principal, audience=AUDIENCE)


class KeyFromBay:
    """Server middleware, outside the SDK's request-state boundary: before the first
    call that may carry or mint a `requestState`, wait for Bay and load its key."""

    def __init__(self, codec: SharedKeyCodec, ready: Callable[[], Awaitable[Bay]]) -> None:
        self._codec = codec
        self._ready = ready

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if not self._codec.has_key and ctx.method in INPUT_REQUIRED_METHODS:
            try:
                key = (await self._ready()).request_state_key
            except Exception as exc:  # the call itself says Bay did not start
                log.debug("no request-state key: Bay did not start (%s)", exc)
            else:
                if key is not None:
                    self._codec.use_key(key)
        return await call_next(ctx)
