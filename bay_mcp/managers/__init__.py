"""Managers: the state machines under the services (sessions, cargos, the per-sandbox
gate, images and their builds), with no owner rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# Reports a step of a long operation to whoever waits (an MCP progress notification).
Progress = Callable[[str], Awaitable[None]]


async def no_progress(message: str) -> None:
    return None
