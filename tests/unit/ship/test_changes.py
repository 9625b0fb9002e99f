"""Files created, changed and deleted per run, from inotify, through Ship's API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from ship.changes import MAX_LISTED, WorkspaceWatch, report

ON_SHIP_LOOP = pytest.mark.asyncio(loop_scope="module")


def changed(result: dict[str, Any]) -> dict[str, str]:
    return {entry["path"]: entry["change"] for entry in result["files_changed"]["files"]}


@ON_SHIP_LOOP
async def test_a_python_run_lists_what_it_wrote(client: httpx.AsyncClient, workspace: Path) -> None:
    (workspace / "old.txt").write_text("old")
    (workspace / "gone.txt").write_text("bye")
    code = (
        "import os\n"
        "os.makedirs('out/deep', exist_ok=True)\n"
        "open('out/deep/plot.png', 'wb').write(b'x' * 10)\n"
        "open('old.txt', 'a').write('er')\n"
        "os.remove('gone.txt')\n"
        "open('tmp.txt', 'w').write('t'); os.remove('tmp.txt')\n"
        "os.makedirs('.bay', exist_ok=True); open('.bay/skip', 'w').write('s')\n"
    )
    result = (await client.post("/python/exec", json={"code": code})).json()
    assert result["success"], result
    assert changed(result) == {
        "out/deep/plot.png": "created",
        "old.txt": "modified",
        "gone.txt": "deleted",
    }
    sizes = {entry["path"]: entry["size"] for entry in result["files_changed"]["files"]}
    assert sizes == {"out/deep/plot.png": 10, "old.txt": 5, "gone.txt": None}
    assert result["files_changed"]["complete"] is True


@ON_SHIP_LOOP
async def test_a_shell_run_lists_its_files_and_a_quiet_run_none(
    client: httpx.AsyncClient,
) -> None:
    result = (await client.post("/shell/exec", json={"command": "echo a > s.csv"})).json()
    assert changed(result) == {"s.csv": "created"}
    quiet = (await client.post("/python/exec", json={"code": "1 + 1"})).json()
    assert quiet["files_changed"] == {"files": [], "total": 0, "complete": True}


def test_the_list_is_bounded_and_counts_the_rest(tmp_path: Path) -> None:
    watch = WorkspaceWatch(tmp_path)
    try:
        with watch.run() as seen:
            for number in range(MAX_LISTED + 20):
                (tmp_path / f"f{number:03}").write_text("x")
        listed = report(seen, tmp_path)
    finally:
        watch.close()
    assert len(listed.files) == MAX_LISTED
    assert listed.total == MAX_LISTED + 20
