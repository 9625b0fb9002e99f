"""The warm pool's demand rule (`pool_target`, `ClaimRate`, the memory bound) as pure
functions, and a retirement that loses to a claim (the member stays its owner's).
(tests/integration/http/test_pool_demand.py grows and shrinks a real pool.)"""

from __future__ import annotations

import pytest

from bay_mcp.bay import Bay
from bay_mcp.services.pool import (
    MEMORY_MARGIN_MB,
    ClaimRate,
    members_memory_allows,
    pool_target,
)
from tests.unit.services.test_pool import pool_ids, pooled, settled

__all__ = ["pooled"]  # the fixture, used below by name


def target(rate: float, lead: float = 2.0, fits: int | None = None) -> int:
    return pool_target(
        claims_per_second=rate, lead_seconds=lead, floor=1, ceiling=8, memory_fits=fits
    )


def test_no_demand_keeps_the_floor() -> None:
    assert target(0.0) == 1


def test_the_target_is_the_claims_one_refill_lasts() -> None:
    # 1.5 creates a second while a refill takes 2 s: 3 are claimed during one refill.
    assert target(1.5, lead=2.0) == 3
    assert target(0.2, lead=2.0) == 1  # fewer than one per refill: the floor serves


def test_the_ceiling_bounds_the_target() -> None:
    assert target(100.0) == 8


def test_memory_bounds_the_target_but_never_below_the_floor() -> None:
    assert target(3.0, fits=4) == 4
    assert target(3.0, fits=0) == 1


@pytest.mark.parametrize(
    ("available", "fits"),
    [(None, None), (MEMORY_MARGIN_MB - 1, 2), (MEMORY_MARGIN_MB + 3 * 1024 + 5, 5)],
)
def test_memory_counts_each_member_at_its_profile_limit(available: int | None, fits: int) -> None:
    assert members_memory_allows(1024, present=2, available_mb=available) == fits


def test_the_claim_rate_counts_the_last_window_only() -> None:
    rate = ClaimRate(window=10.0)
    assert rate.observe(0.0, 0) == 0.0
    assert rate.observe(1.0, 20) == 2.0  # 20 claims in the window
    assert rate.observe(5.0, 30) == 3.0
    # Eleven seconds on: the reading at 1.0 is the last before the window, so the
    # claims after it count (10), and the first 20 have left.
    assert rate.observe(11.5, 30) == 1.0
    assert rate.observe(30.0, 30) == 0.0  # quiet for a window: no demand


async def test_a_member_claimed_first_is_not_retired(pooled: Bay) -> None:
    # The pool read its members, then a create claimed one before the retirement.
    before = {sandbox.id: sandbox for sandbox, _ in await pooled.sandboxes.pool_members()}
    claimed = await pooled.sandboxes.create("alice")
    assert not await pooled.sandboxes.retire_pool_member(before[claimed.id])
    # Still alice's, running in the container the pool started (get raises once deleted).
    assert (await pooled.sandboxes.get("alice", claimed.id)).status == "ready"


async def test_a_retired_member_leaves_the_pool(pooled: Bay) -> None:
    [member, _] = [sandbox for sandbox, _ in await pooled.sandboxes.pool_members()]
    assert await pooled.sandboxes.retire_pool_member(member)
    assert member.id not in await pool_ids(pooled)
    await settled(pooled)  # the refill brings the pool back to its floor
    assert len(await pool_ids(pooled)) == 2
