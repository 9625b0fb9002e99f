"""The repositories keep what their callers rely on: a tombstone is all or nothing, a
pool member and a session start are each claimed once, an idempotency key is held by
one request at a time, and the history's tag filter takes a tag literally. On SQLite
and on PostgreSQL (tests/databases.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from bay_mcp.limits import POOL_OWNER
from bay_mcp.storage.database import Database
from bay_mcp.storage.executions import ExecutionFilter, ExecutionRepository
from bay_mcp.storage.idempotency import IdempotencyRepository
from bay_mcp.storage.models import Cargo, Execution, Sandbox, Session, Snapshot, utcnow
from bay_mcp.storage.sandboxes import SandboxRepository
from bay_mcp.storage.sessions import SessionRepository
from bay_mcp.storage.snapshots import SnapshotRepository


async def _sandbox(db: Database, sandbox_id: str, owner: str = "ann") -> Sandbox:
    sandbox = Sandbox(
        id=sandbox_id, owner=owner, profile="python-default", cargo_id=f"ws-{sandbox_id}"
    )
    cargo = Cargo(
        id=f"ws-{sandbox_id}",
        owner=owner,
        driver_ref=f"bay-cargo-ws-{sandbox_id}",
        managed_by_sandbox_id=sandbox_id,
    )
    await SandboxRepository(db).insert(sandbox, cargo)
    return sandbox


def _execution(execution_id: str, sandbox_id: str, tags: str = "") -> dict[str, object]:
    row = Execution(
        id=execution_id,
        sandbox_id=sandbox_id,
        owner="ann",
        exec_type="python",
        code="1+1",
        success=True,
        tags=tags,
    )
    return row.model_dump()


def _volumes(removed: list[str], refused: str = "") -> Callable[[str], Awaitable[None]]:
    async def remove(volume: str) -> None:
        if refused and volume.startswith(refused):
            raise RuntimeError("the engine refused")
        removed.append(volume)

    return remove


async def _rows_of(db: Database, sandbox_id: str) -> tuple[bool, bool, bool]:
    """Whether the sandbox's cargo, run and snapshot rows are there."""
    async with db.session() as session:
        return (
            await session.get(Cargo, f"ws-{sandbox_id}") is not None,
            await session.get(Execution, "exec-1") is not None,
            await session.get(Snapshot, "snap-1") is not None,
        )


async def test_a_tombstone_whose_volume_cannot_go_leaves_every_row(db: Database) -> None:
    await _sandbox(db, "s1")
    await ExecutionRepository(db).write_batch([_execution("exec-1", "s1")], max_entries=10)
    await SnapshotRepository(db).insert(
        Snapshot(id="snap-1", sandbox_id="s1", owner="ann", driver_ref="bay-snapshot-snap-1")
    )
    rows = SandboxRepository(db)
    removed: list[str] = []
    with pytest.raises(RuntimeError):
        await rows.tombstone("s1", utcnow(), _volumes(removed, refused="bay-snapshot-"))
    sandbox = await rows.get("s1")
    assert sandbox is not None
    assert sandbox.deleted_at is None
    assert await _rows_of(db, "s1") == (True, True, True)

    removed.clear()
    await rows.tombstone("s1", utcnow(), _volumes(removed))
    sandbox = await rows.get("s1")
    assert sandbox is not None
    assert sandbox.deleted_at is not None
    assert sandbox.version == 2
    assert removed == ["bay-cargo-ws-s1", "bay-snapshot-snap-1"]
    assert await _rows_of(db, "s1") == (False, False, False)
    # A second tombstone finds it deleted and removes nothing.
    removed.clear()
    await rows.tombstone("s1", utcnow(), _volumes(removed))
    assert removed == []


async def test_live_counts_are_the_owners_and_all_owners_but_the_pools(db: Database) -> None:
    rows = SandboxRepository(db)
    assert await rows.live_counts("ann") == (0, 0)
    for sandbox_id, owner in [("a1", "ann"), ("a2", "ann"), ("b1", "bob"), ("p1", POOL_OWNER)]:
        await _sandbox(db, sandbox_id, owner=owner)
    assert await rows.live_counts("ann") == (2, 3)
    await rows.tombstone("a2", utcnow(), _volumes([]))
    assert await rows.live_counts("ann") == (1, 2)
    assert await rows.live_counts("carol") == (0, 2)


async def test_two_claims_of_one_pool_member_hand_it_to_one_owner(db: Database) -> None:
    await _sandbox(db, "member", owner=POOL_OWNER)
    sessions = SessionRepository(db)
    session = Session(sandbox_id="member", ship_token="t", observed_state="ready")
    assert await sessions.insert_if_unchanged(session, seen_version=1)
    rows = SandboxRepository(db)
    claims = await asyncio.gather(
        rows.claim_pool_member("python-default", "ann", None),
        rows.claim_pool_member("python-default", "bob", None),
    )
    taken = [claim for claim in claims if claim is not None]
    assert len(taken) == 1
    [(sandbox, claimed_session, status)] = taken
    assert (claimed_session and claimed_session.id, status) == (session.id, "ready")
    owner = sandbox.owner
    cargo = await rows.for_a_call("member")
    assert cargo is not None
    assert cargo[1] is not None
    assert cargo[1].owner == owner  # the cargo goes with it
    assert await rows.pool_members(utcnow()) == []


async def test_a_session_start_is_claimed_once_per_version(db: Database) -> None:
    await _sandbox(db, "s1")
    sessions = SessionRepository(db)
    first = Session(sandbox_id="s1", ship_token="a")
    second = Session(sandbox_id="s1", ship_token="b")
    assert await sessions.insert_if_unchanged(first, seen_version=1)
    assert not await sessions.insert_if_unchanged(second, seen_version=1)
    latest = await sessions.latest("s1")
    assert latest is not None
    assert latest.id == first.id
    assert [s.id for s in await sessions.of_sandbox("s1")] == [first.id]


async def test_an_idempotency_key_is_held_by_one_request_until_it_expires(
    db: Database,
) -> None:
    keys = IdempotencyRepository(db)
    now = utcnow()
    assert await keys.claim("ann", "k", "print-1", now, now + timedelta(hours=1))
    assert not await keys.claim("ann", "k", "print-2", now, now + timedelta(hours=1))
    assert await keys.claim("bob", "k", "print-1", now, now + timedelta(hours=1))
    await keys.finish("ann", "k", 201, '{"id": 1}')
    stored = await keys.find("ann", "k")
    assert stored is not None
    assert (stored.status, stored.response_status, stored.fingerprint) == ("done", 201, "print-1")
    later = now + timedelta(hours=2)  # expired: the key may be used again
    assert await keys.claim("ann", "k", "print-3", later, later + timedelta(hours=1))
    await keys.forget("ann", "k")
    assert await keys.find("ann", "k") is None


async def test_the_history_filters_a_tag_literally(db: Database) -> None:
    await _sandbox(db, "s1")
    runs = ExecutionRepository(db)
    await runs.write_batch(
        [
            _execution("exec-1", "s1", tags="50%,a_b"),
            _execution("exec-2", "s1", tags="500,axb"),
            _execution("exec-3", "s1", tags="a_b"),
        ],
        max_entries=10,
    )
    total, rows = await runs.page(ExecutionFilter("s1", tags=["50%"]), limit=10, offset=0)
    assert (total, [row.id for row in rows]) == (1, ["exec-1"])
    total, rows = await runs.page(ExecutionFilter("s1", tags=["a_b"]), limit=10, offset=0)
    assert total == 2
    assert {row.id for row in rows} == {"exec-1", "exec-3"}


async def test_the_history_keeps_the_newest_runs_of_a_sandbox(db: Database) -> None:
    await _sandbox(db, "s1")
    runs = ExecutionRepository(db)
    start = utcnow()
    batch = [_execution(f"exec-{n}", "s1") for n in range(5)]
    for n, row in enumerate(batch):
        row["created_at"] = start + timedelta(seconds=n)
    await runs.write_batch(batch, max_entries=3)
    total, rows = await runs.page(ExecutionFilter("s1"), limit=10, offset=0)
    assert (total, [row.id for row in rows]) == (3, ["exec-4", "exec-3", "exec-2"])
