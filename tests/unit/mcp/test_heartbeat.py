"""How a long tool call reports while it runs: only to a caller that asked."""

from __future__ import annotations

import asyncio

from bay_mcp.managers import no_progress
from bay_mcp.mcp.progress import LiveOutput, with_heartbeat


async def test_a_caller_without_a_progress_token_gets_the_work_awaited_as_is() -> None:
    async def work() -> str:
        # No task of the heartbeat's: the work runs in the caller's own task.
        return asyncio.current_task().get_name()  # type: ignore[union-attr]

    caller = asyncio.current_task()
    assert caller is not None
    assert await with_heartbeat(work(), no_progress, "running") == caller.get_name()


async def test_new_output_is_reported_while_the_work_runs() -> None:
    heard: list[str] = []
    live = LiveOutput(1000)
    release = asyncio.Event()

    async def progress(message: str) -> None:
        heard.append(message)
        release.set()

    async def work() -> int:
        live.add("first line\n")
        await release.wait()  # ends once the output was reported
        return 7

    assert await with_heartbeat(work(), progress, "running", live) == 7
    assert heard == ["first line\n"]
