"""The egress log's rows: kept per live sandbox up to the cap (the newest), read newest
first, gone with their sandbox; and a sandbox's egress policy and bindings survive the
row's JSON columns. On SQLite and on PostgreSQL (tests/databases.py)."""

from __future__ import annotations

from datetime import timedelta

from bay_mcp.storage.database import Database
from bay_mcp.storage.egress_log import EgressLogRepository
from bay_mcp.storage.models import Cargo, Sandbox, utcnow
from bay_mcp.storage.sandboxes import SandboxRepository


async def _sandbox(db: Database, sandbox_id: str) -> None:
    sandbox = Sandbox(
        id=sandbox_id,
        owner="ann",
        profile="python-default",
        cargo_id=f"ws-{sandbox_id}",
        egress={"mode": "allowlist", "allow": ["pypi.org"], "deny": []},
        secret_bindings=[
            {"secret": "K", "env": "K", "hosts": ["pypi.org"], "placeholder": "bay-secret:x"}
        ],
    )
    cargo = Cargo(id=f"ws-{sandbox_id}", owner="ann", driver_ref=f"bay-cargo-ws-{sandbox_id}")
    await SandboxRepository(db).insert(sandbox, cargo)


def _entry(sandbox_id: str, n: int, allowed: bool = True) -> dict[str, object]:
    return {
        "sandbox_id": sandbox_id,
        "time": utcnow() + timedelta(milliseconds=n),
        "host": f"h{n}.example",
        "port": 443,
        "method": "CONNECT",
        "bytes": 2**33 + n,  # past 32 bits: a BIGINT on PostgreSQL
        "allowed": allowed,
        "reason": "allow 'x'" if allowed else "no allow rule",
    }


async def test_the_newest_are_kept_per_sandbox_and_read_newest_first(db: Database) -> None:
    await _sandbox(db, "s1")
    await _sandbox(db, "s2")
    log = EgressLogRepository(db)
    await log.add([_entry("s1", n) for n in range(8)] + [_entry("s2", 0, False)], keep=5)
    await log.add([_entry("s1", 8)], keep=5)
    rows = await log.newest("s1", 10)
    assert [row.host for row in rows] == [f"h{n}.example" for n in (8, 7, 6, 5, 4)]
    assert rows[0].bytes == 2**33 + 8
    older = await log.newest("s1", 2, before=rows[1].id)
    assert [row.host for row in older] == ["h6.example", "h5.example"]
    assert [(row.host, row.allowed) for row in await log.newest("s2", 10)] == [
        ("h0.example", False)
    ]


async def test_rows_of_a_deleted_or_unknown_sandbox_are_not_kept(db: Database) -> None:
    await _sandbox(db, "s1")
    log = EgressLogRepository(db)
    await log.add([_entry("s1", 1), _entry("nobody", 1)], keep=10)
    assert len(await log.newest("s1", 10)) == 1
    assert await log.newest("nobody", 10) == []

    async def no_volume(name: str) -> None:
        return None

    await SandboxRepository(db).tombstone("s1", utcnow(), no_volume)
    assert await log.newest("s1", 10) == []
    await log.add([_entry("s1", 2)], keep=10)
    assert await log.newest("s1", 10) == []


async def test_a_sandboxs_policy_and_bindings_come_back_as_stored(db: Database) -> None:
    await _sandbox(db, "s1")
    row = await SandboxRepository(db).get("s1")
    assert row is not None
    assert row.egress == {"mode": "allowlist", "allow": ["pypi.org"], "deny": []}
    assert row.secret_bindings[0]["placeholder"] == "bay-secret:x"
