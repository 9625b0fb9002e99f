"""Ship as a cargo's files helper (SHIP_CARGO_HELPER=1): files served, no kernel."""

from __future__ import annotations

from pathlib import Path

from tests.unit.ship.conftest import make_settings, ship_client


async def test_a_helper_serves_files_and_starts_no_kernel(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    async for ship in ship_client(make_settings(workspace, cargo_helper=True)):
        assert (await ship.get("/health")).json()["kernel"] == "idle"
        put = await ship.put("/filesystem/files", json={"path": "a/b.txt", "content": "hi"})
        assert put.status_code == 200, put.text
        read = await ship.get("/filesystem/files", params={"path": "a/b.txt"})
        assert read.json()["content"] == "hi"
        assert (await ship.get("/health")).json()["kernel"] == "idle"
    assert (workspace / "a" / "b.txt").read_text() == "hi"
