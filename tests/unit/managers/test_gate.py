"""The sandbox gate: calls share it, a copy has it alone, a waiting copy goes first."""

from __future__ import annotations

import asyncio

import pytest

from bay_mcp.errors import Timeout
from bay_mcp.managers.gate import SandboxGate


async def test_calls_share_the_gate() -> None:
    gate = SandboxGate(copy_wait_s=2, call_wait_s=2)
    async with gate.shared("s1"), gate.shared("s1"):
        assert gate.calls_in_flight("s1") == 2
    assert gate.calls_in_flight("s1") == 0


async def test_a_copy_waits_for_calls_in_flight_and_later_calls_wait_for_it() -> None:
    gate = SandboxGate(copy_wait_s=2, call_wait_s=2)
    events: list[str] = []
    call_may_end = asyncio.Event()

    async def call(name: str, hold: asyncio.Event | None = None) -> None:
        async with gate.shared("s1"):
            events.append(f"{name} in")
            if hold is not None:
                await hold.wait()
            events.append(f"{name} out")

    async def copy() -> None:
        async with gate.exclusive("s1"):
            events.append("copy in")
            await asyncio.sleep(0.02)
            events.append("copy out")

    first = asyncio.create_task(call("first", call_may_end))
    await asyncio.sleep(0)
    copying = asyncio.create_task(copy())
    await asyncio.sleep(0.01)
    second = asyncio.create_task(call("second"))
    await asyncio.sleep(0.01)
    assert events == ["first in"]  # the copy waits for first; second waits behind the copy
    call_may_end.set()
    await asyncio.gather(first, copying, second)
    assert events == ["first in", "first out", "copy in", "copy out", "second in", "second out"]


async def test_other_sandboxes_are_not_held_by_a_copy() -> None:
    gate = SandboxGate(copy_wait_s=2, call_wait_s=2)
    async with gate.exclusive("s1"), gate.shared("s2"):
        assert gate.copying("s1")
        assert not gate.copying("s2")


async def test_a_delete_goes_ahead_of_a_waiting_copy_but_not_a_running_one() -> None:
    gate = SandboxGate(copy_wait_s=2, call_wait_s=0.05)
    async with gate.shared("s1"):
        waiting = asyncio.create_task(gate.exclusive("s1").__aenter__())
        await asyncio.sleep(0.01)
        async with gate.shared("s1", ahead_of_waiting_copies=True):
            pass  # not held back by the waiting copy
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    async with gate.exclusive("s1"):
        with pytest.raises(Timeout, match="been copied"):
            async with gate.shared("s1", ahead_of_waiting_copies=True):
                pass


async def test_every_wait_has_a_deadline_and_says_why() -> None:
    gate = SandboxGate(copy_wait_s=0.05, call_wait_s=0.05)
    async with gate.shared("s1"):
        with pytest.raises(Timeout, match="1 call\\(s\\) running"):
            async with gate.exclusive("s1"):
                pass
    async with gate.exclusive("s1"):
        with pytest.raises(Timeout, match="retry in a moment"):
            async with gate.shared("s1"):
                pass
    # Nothing is left held: both modes work again.
    async with gate.exclusive("s1"):
        pass
    async with gate.shared("s1"):
        pass


async def test_a_copy_that_gives_up_lets_the_calls_behind_it_go() -> None:
    gate = SandboxGate(copy_wait_s=0.05, call_wait_s=2)
    release = asyncio.Event()

    async def long_call() -> None:
        async with gate.shared("s1"):
            await release.wait()

    holder = asyncio.create_task(long_call())
    await asyncio.sleep(0)
    copy = asyncio.create_task(gate.exclusive("s1").__aenter__())
    await asyncio.sleep(0.01)
    behind = asyncio.create_task(gate.shared("s1").__aenter__())
    with pytest.raises(Timeout):
        await copy
    await asyncio.wait_for(behind, 1)  # entered once the copy gave up
    release.set()
    await holder
