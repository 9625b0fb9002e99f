"""One lock per key, forgotten once nobody holds or waits for it."""

from __future__ import annotations

import gc

from bay_mcp.managers.locks import KeyedLocks


async def test_a_key_has_one_lock_while_it_is_in_use_and_none_after() -> None:
    locks = KeyedLocks()
    first = locks("sandbox-a")
    assert locks("sandbox-a") is first
    assert locks("sandbox-b") is not first
    async with first:
        assert locks("sandbox-a").locked()
    del first
    gc.collect()
    assert len(locks._locks) == 0  # no key kept once its lock is unreferenced
