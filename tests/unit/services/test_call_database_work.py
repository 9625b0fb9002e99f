"""A warm call's database work: its read (storage/row_reads.py) on sqlite3 directly, typed
as the ORM types it, built once while the row stays the same; its history record a plain
object written as an Execution row."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, update

from bay_mcp.services.history import RunRecord
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Cargo, Execution, Sandbox, Session, utcnow
from bay_mcp.storage.row_reads import KeptRows
from bay_mcp.storage.sandboxes import FOR_A_CALL as _FOR_A_CALL
from bay_mcp.storage.sandboxes import call_objects as _call_objects


async def _database(tmp_path: Path) -> Database:
    database = Database(tmp_path / "bay.db")
    await database.migrate()
    later = utcnow() + timedelta(hours=1)
    async with database.session() as db:
        db.add(Cargo(id="ws-1", owner="ann", driver_ref="bay-cargo-ws-1", size_limit_mb=5))
        db.add(
            Sandbox(
                id="sandbox-1",
                owner="ann",
                profile="python-default",
                cargo_id="ws-1",
                env={"TOKEN": "x"},
                expires_at=later,
            )
        )
        db.add(Sandbox(id="sandbox-2", owner="ann", profile="python-default", cargo_id="ws-0"))
        db.add(Session(id="sess-1", sandbox_id="sandbox-1", ship_token="t", endpoint="http://a"))
        await db.commit()
    return database


async def test_the_row_reads_as_the_orm_reads_it(tmp_path: Path) -> None:
    database = await _database(tmp_path)
    read = await database.first(_FOR_A_CALL, {"sandbox_id": "sandbox-1"}, _call_objects)
    assert read is not None
    sandbox, cargo, session = read
    async with database.session() as db:
        expected = (
            await db.get(Sandbox, "sandbox-1"),
            await db.get(Cargo, "ws-1"),
            await db.get(Session, "sess-1"),
        )
    for got, want in zip((sandbox, cargo, session), expected, strict=True):
        assert got is not None
        assert want is not None
        assert got.model_dump() == want.model_dump()  # datetimes with their zone, JSON, bools
    assert sandbox.env == {"TOKEN": "x"}
    assert cargo is not None
    assert cargo.managed is True
    # No cargo and no session: None, not empty models; no sandbox: None.
    alone = await database.first(_FOR_A_CALL, {"sandbox_id": "sandbox-2"}, _call_objects)
    assert alone is not None
    assert alone[1] is None
    assert alone[2] is None
    assert await database.first(_FOR_A_CALL, {"sandbox_id": "nope"}, _call_objects) is None
    await database.close()


async def test_the_models_are_built_again_only_when_the_row_changes(tmp_path: Path) -> None:
    database = await _database(tmp_path)
    params = {"sandbox_id": "sandbox-1"}
    first = await database.first(_FOR_A_CALL, params, _call_objects)
    assert await database.first(_FOR_A_CALL, params, _call_objects) is first
    async with database.session() as db:  # a write, as another process would make it
        await db.exec(
            update(Session).where(col(Session.id) == "sess-1").values(observed_state="stopped")
        )
        await db.commit()
    changed = await database.first(_FOR_A_CALL, params, _call_objects)
    assert changed is not first
    assert changed is not None
    assert changed[2] is not None
    assert changed[2].observed_state == "stopped"
    await database.close()


def test_kept_rows_forget_the_least_recently_read() -> None:
    kept: KeptRows[str] = KeptRows(size=2)
    assert kept.get("a", (1,), lambda: "a1") == "a1"
    assert kept.get("b", (1,), lambda: "b1") == "b1"
    assert kept.get("a", (1,), lambda: "rebuilt") == "a1"  # a is now the most recent
    kept.get("c", (1,), lambda: "c1")  # b goes
    assert kept.get("b", (1,), lambda: "b2") == "b2"
    assert kept.get("a", (2,), lambda: "a2") == "a2"  # another row: built again


def test_a_run_record_is_an_execution_row_but_the_notes() -> None:
    # The history writes RunRecords as Execution rows: the same columns, less the notes
    # (added later, by annotate).
    columns = {column.name for column in Execution.__table__.columns}  # type: ignore[attr-defined]
    assert {field.name for field in fields(RunRecord)} == columns - {"notes"}
