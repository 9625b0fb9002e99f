"""A pool member's watch for its Bay: stops without a heartbeat, never once claimed."""

from __future__ import annotations

import asyncio

from ship.orphan_watch import OrphanWatch


async def test_no_heartbeat_within_the_time_stops_the_member() -> None:
    stopped = asyncio.Event()
    watch = OrphanWatch(0.05, stop=stopped.set)
    await asyncio.wait_for(watch.run(), timeout=10)
    assert stopped.is_set()


async def test_heartbeats_keep_it_and_a_claim_ends_the_watch() -> None:
    stopped = asyncio.Event()
    watch = OrphanWatch(0.2, stop=stopped.set)
    running = asyncio.create_task(watch.run())
    for _ in range(5):  # a second of heartbeats, each well within the time
        await asyncio.sleep(0.05)
        watch.heard(claimed=False)
    assert not stopped.is_set()
    watch.heard(claimed=True)
    await asyncio.wait_for(running, timeout=10)
    assert not stopped.is_set()
    assert watch.claimed
