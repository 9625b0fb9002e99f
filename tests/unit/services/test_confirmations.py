"""What a destructive step would lose, as the service words it: counted without
starting a sandbox, bounded, and None when nothing would be lost."""

from __future__ import annotations

import json

import pytest

from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from bay_mcp.services import confirmations
from tests.fakes import FakeShip


async def test_a_walk_cut_short_says_at_least(bay: Bay, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = await bay.sandboxes.create("alice")
    for path in ("top.txt", "a/one.txt", "a/b/two.txt"):
        await bay.files.write_text("alice", sandbox.id, path, "12345", no_progress)
    question = await bay.confirmations.before_sandbox_delete("alice", sandbox.id)
    assert question is not None
    assert "and its 3 files (15 bytes) in /workspace?" in question
    monkeypatch.setattr(confirmations, "MAX_LISTINGS", 2)  # the root and a/, not a/b/
    question = await bay.confirmations.before_sandbox_delete("alice", sandbox.id)
    assert question is not None
    assert "and at least 2 files (10 bytes) in /workspace?" in question


async def test_nothing_to_lose_is_no_question(bay: Bay) -> None:
    sandbox = await bay.sandboxes.create("alice")
    assert await bay.confirmations.before_sandbox_delete("alice", sandbox.id) is None
    snapshot = await bay.snapshots.create("alice", sandbox.id)
    assert await bay.confirmations.before_restore("alice", sandbox.id, snapshot.id) is None
    assert await bay.confirmations.before_snapshot_delete("alice", sandbox.id, snapshot.id) is None


async def test_a_file_without_a_time_counts_as_changed(bay: Bay, ship: FakeShip) -> None:
    """Asking once too often beats losing a file unasked."""
    sandbox = await bay.sandboxes.create("alice")
    snapshot = await bay.snapshots.create("alice", sandbox.id)
    await bay.files.write_text("alice", sandbox.id, "untimed.txt", "x", no_progress)
    del ship.modified_times["untimed.txt"]
    question = await bay.confirmations.before_restore("alice", sandbox.id, snapshot.id)
    assert question is not None
    assert "will be lost: untimed.txt." in question


async def test_the_skills_ship_installed_are_not_counted(bay: Bay) -> None:
    """Ship makes them again at the next start; a skill the agent added counts."""
    sandbox = await bay.sandboxes.create("alice")
    manifest = json.dumps({"bay-sandbox": {"SKILL.md": "ab12", "notes/more.md": "cd34"}})
    for path, content in (
        (".bay/skills.json", manifest),
        ("skills/bay-sandbox/SKILL.md", "# Bay sandbox\n"),
        ("skills/bay-sandbox/notes/more.md", "more\n"),
        ("skills/mine/SKILL.md", "# mine\n"),
        ("report.md", "results\n"),
    ):
        await bay.files.write_text("alice", sandbox.id, path, content, no_progress)
    question = await bay.confirmations.before_sandbox_delete("alice", sandbox.id)
    assert question is not None
    assert "and its 2 files (15 bytes) in /workspace?" in question
