"""Telling the caller how a long tool call goes: progress notifications, a run's output
as it comes, and a heartbeat while nothing else is said.

All of it only for a caller that sent a progress token: one that will hear nothing gets
its call run as it is (no task, no timer: a warm call's time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from mcp.server.mcpserver import Context

from bay_mcp.managers import Progress, no_progress

T = TypeVar("T")

HEARTBEAT_S = 5.0
# New output goes out at most this often (a notification per print would flood a host).
LIVE_INTERVAL_S = 0.25


def wants_progress(ctx: Context[Any, Any]) -> bool:
    """Whether the caller asked for progress notifications (sent a progress token)."""
    meta = getattr(ctx.request_context, "meta", None) or {}
    return meta.get("progress_token") is not None or meta.get("progressToken") is not None


def progress_for(ctx: Context[Any, Any]) -> Progress:
    """Where a service reports a call's steps: progress notifications, best effort."""
    if not wants_progress(ctx):
        return no_progress  # nothing would be sent: no reports, no heartbeat
    step = 0

    async def report(message: str) -> None:
        nonlocal step
        step += 1
        with contextlib.suppress(Exception):  # progress is best effort, never fatal
            await ctx.report_progress(step, None, message)

    return report


class LiveOutput:
    """A run's output as it comes, for progress notifications: gathered between them,
    and never more in all than the result can hold (`limit` characters)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pending: list[str] = []
        self._given = 0

    def add(self, text: str) -> None:
        room = self._limit - self._given
        if room <= 0:
            return
        kept = text[:room]
        self._pending.append(kept)
        self._given += len(kept)
        if len(kept) < len(text):
            self._pending.append("\n[live output stops here; the result has the rest]\n")

    def take(self) -> str | None:
        if not self._pending:
            return None
        text, self._pending = "".join(self._pending), []
        return text


def live_output(ctx: Context[Any, Any], limit: int) -> LiveOutput | None:
    """A LiveOutput when the caller asked for progress notifications: streaming the
    output from Ship costs a call ~2 ms, paid only by a caller that will see it."""
    return LiveOutput(limit) if wants_progress(ctx) else None


async def with_heartbeat(
    work: Awaitable[T], progress: Progress, what: str, live: LiveOutput | None = None
) -> T:
    """Await `work`, reporting its new output (`live`) every LIVE_INTERVAL_S and the
    elapsed time every few seconds while it says nothing. A caller that will hear
    nothing gets the work awaited as it is (no task, no timer: a warm call's time)."""
    if progress is no_progress and live is None:
        return await work
    task = asyncio.ensure_future(work)
    started = last_report = time.monotonic()
    try:
        while True:
            tick = HEARTBEAT_S if live is None else LIVE_INTERVAL_S
            done, _ = await asyncio.wait({task}, timeout=tick)
            if done:
                return task.result()
            now = time.monotonic()
            if live is not None and (text := live.take()) is not None:
                await progress(text)
                last_report = now
            elif now - last_report >= HEARTBEAT_S:
                await progress(f"{what}: {now - started:.0f} s elapsed")
                last_report = now
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
