"""The start queue: starts beyond the slots wait in arrival order, users' before the
pool's, and a waiter cancelled as its turn comes passes the slot on."""

from __future__ import annotations

import asyncio

import pytest

from bay_mcp.managers.start_queue import StartQueue


async def hold(
    queue: StartQueue, name: str, order: list[str], gate: asyncio.Event, *, pool: bool = False
) -> None:
    async with queue.turn(pool=pool):
        order.append(name)
        await gate.wait()


def fresh(slots: int) -> tuple[StartQueue, list[str], asyncio.Event]:
    """A queue, the order its holders got their turn in, and the gate they wait on."""
    return StartQueue(slots), [], asyncio.Event()


async def queued(queue: StartQueue, count: int) -> None:
    """Let the tasks just created run up to their wait in the queue."""
    await asyncio.sleep(0)
    assert queue.waiting == count


async def test_waiting_starts_are_served_in_arrival_order() -> None:
    queue, order, gate = fresh(1)
    first = asyncio.create_task(hold(queue, "first", order, gate))
    await asyncio.sleep(0)
    waiters = []
    for n in range(5):
        waiters.append(asyncio.create_task(hold(queue, f"user{n}", order, gate)))
        await queued(queue, n + 1)
    assert queue.full()
    gate.set()
    await asyncio.gather(first, *waiters)
    assert order == ["first", "user0", "user1", "user2", "user3", "user4"]
    assert not queue.full()


async def test_users_go_before_the_pool_whatever_came_first() -> None:
    queue, order, gate = fresh(1)
    running = asyncio.create_task(hold(queue, "running", order, gate))
    await asyncio.sleep(0)
    pool = asyncio.create_task(hold(queue, "pool", order, gate, pool=True))
    await queued(queue, 1)
    user = asyncio.create_task(hold(queue, "user", order, gate))
    await queued(queue, 2)
    gate.set()
    await asyncio.gather(running, pool, user)
    assert order == ["running", "user", "pool"]


async def test_the_pool_waits_for_a_free_slot_and_no_waiting_user() -> None:
    queue, order, gate = fresh(2)
    tasks = [asyncio.create_task(hold(queue, "pool", order, gate, pool=True))]
    await asyncio.sleep(0)
    assert order == ["pool"]  # a free slot and nobody waiting: the pool starts at once
    gate.set()
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_leaves_the_line_and_the_next_gets_the_slot() -> None:
    queue, order, gate = fresh(1)
    running = asyncio.create_task(hold(queue, "running", order, gate))
    await asyncio.sleep(0)
    gone = asyncio.create_task(hold(queue, "gone", order, gate))
    await queued(queue, 1)
    after = asyncio.create_task(hold(queue, "after", order, gate))
    await queued(queue, 2)
    gone.cancel()
    gate.set()
    await asyncio.gather(running, after)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert order == ["running", "after"]
    assert queue.waiting == 0
    assert not queue.full()


async def test_a_waiter_cancelled_as_its_turn_came_passes_the_slot_on() -> None:
    queue, order, gate = fresh(1)
    gate.set()
    async with queue.turn():
        unlucky = asyncio.create_task(hold(queue, "unlucky", order, gate))
        await queued(queue, 1)
        after = asyncio.create_task(hold(queue, "after", order, gate))
        await queued(queue, 2)
    # The release handed the slot to `unlucky`, which has not run yet: cancel it now.
    unlucky.cancel()
    await after
    with pytest.raises(asyncio.CancelledError):
        await unlucky
    assert order == ["after"]
    assert not queue.full()


def test_a_queue_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        StartQueue(0)
