"""A create the caller stopped waiting for is undone once it has happened.

A request sent to Docker (or Kubernetes) is carried out whether or not the caller still
waits for the answer. When Bay stops, the tasks it cancels may be waiting on such a
create (the warm pool filling): left alone, the volume or container it made would
outlive the call, with no row naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


async def created_or_undone(
    create: Awaitable[T], undo: Callable[[T], Awaitable[object]], what: str
) -> T:
    """`await create`; if the caller is cancelled meanwhile, wait for the create to end
    and `undo` what it made, then let the cancellation go on."""
    creating = asyncio.ensure_future(create)
    try:
        return await asyncio.shield(creating)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            made = await creating
            try:
                await undo(made)
            except Exception:
                log.warning("could not remove %s, made as Bay stopped", what, exc_info=True)
        raise
