"""Filesystem round trips through the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ship.quota import measure
from ship.skills import BUILTIN_SKILLS, install_skills
from tests.unit.ship.conftest import make_settings, ship_client

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_write_creates_parents_and_reads_back(
    client: httpx.AsyncClient, workspace: Path
) -> None:
    written = await client.put(
        "/filesystem/files", json={"path": "deep/er/notes.md", "content": "héllo\nworld\n"}
    )
    assert written.status_code == 200
    assert written.json() == {"status": "ok", "path": "deep/er/notes.md", "size": 13}
    assert (workspace / "deep/er/notes.md").read_text() == "héllo\nworld\n"
    read = (await client.get("/filesystem/files", params={"path": "deep/er/notes.md"})).json()
    assert read["content"] == "héllo\nworld\n"
    assert read["total_lines"] == 2


async def test_read_a_window_of_lines(client: httpx.AsyncClient) -> None:
    lines = "".join(f"line {i}\n" for i in range(100))
    await client.put("/filesystem/files", json={"path": "many.txt", "content": lines})
    read = (
        await client.get("/filesystem/files", params={"path": "many.txt", "offset": 10, "limit": 3})
    ).json()
    assert read["content"] == "line 10\nline 11\nline 12\n"
    assert read["truncated"] is True
    assert read["total_lines"] == 100


async def test_missing_file_is_file_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/filesystem/files", params={"path": "nope.txt"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "file_not_found"
    deleted = await client.delete("/filesystem/files", params={"path": "nope.txt"})
    assert deleted.status_code == 404
    download = await client.get("/filesystem/download", params={"path": "nope.bin"})
    assert download.status_code == 404


async def test_binary_file_read_as_text_says_to_download(
    client: httpx.AsyncClient, workspace: Path
) -> None:
    (workspace / "blob.bin").write_bytes(bytes(range(256)))
    response = await client.get("/filesystem/files", params={"path": "blob.bin"})
    assert response.status_code == 400
    assert "download" in response.json()["error"]["message"]


async def test_too_large_text_read_is_refused_with_advice(
    client: httpx.AsyncClient, workspace: Path
) -> None:
    (workspace / "big.txt").write_text("y" * 100 + "\n" + "z" * 70_000)
    response = await client.get("/filesystem/files", params={"path": "big.txt"})
    assert response.status_code == 400
    assert "offset and limit" in response.json()["error"]["message"]


async def test_list_directory(client: httpx.AsyncClient, workspace: Path) -> None:
    (workspace / "listing/inner").mkdir(parents=True)
    (workspace / "listing/a.txt").write_text("abc")
    listing = (await client.get("/filesystem/directories", params={"path": "listing"})).json()
    entries = {e["name"]: e for e in listing["entries"]}
    assert entries["a.txt"]["type"] == "file"
    assert entries["a.txt"]["size"] == 3
    assert entries["a.txt"]["path"] == "listing/a.txt"
    assert entries["a.txt"]["modified_time"].endswith("Z")
    assert entries["inner"]["type"] == "directory"
    root = (await client.get("/filesystem/directories")).json()
    assert "listing" in {e["name"] for e in root["entries"]}


async def test_listing_a_file_is_an_error(client: httpx.AsyncClient, workspace: Path) -> None:
    (workspace / "plain.txt").write_text("x")
    response = await client.get("/filesystem/directories", params={"path": "plain.txt"})
    assert response.status_code == 404


async def test_delete_file_and_directory(client: httpx.AsyncClient, workspace: Path) -> None:
    (workspace / "gone/sub").mkdir(parents=True)
    (workspace / "gone/sub/f.txt").write_text("x")
    (workspace / "single.txt").write_text("x")
    assert (await client.delete("/filesystem/files", params={"path": "single.txt"})).is_success
    assert (await client.delete("/filesystem/files", params={"path": "gone"})).is_success
    assert not (workspace / "single.txt").exists()
    assert not (workspace / "gone").exists()


async def test_delete_of_the_root_is_refused(client: httpx.AsyncClient, workspace: Path) -> None:
    response = await client.delete("/filesystem/files", params={"path": "."})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_path"
    assert workspace.exists()


async def test_upload_and_download_binary_round_trip(
    client: httpx.AsyncClient, workspace: Path
) -> None:
    payload = bytes(range(256)) * 1000
    uploaded = await client.post(
        "/filesystem/upload", params={"path": "bin/data.bin"}, content=_in_chunks(payload)
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["size"] == len(payload)
    assert (workspace / "bin/data.bin").read_bytes() == payload
    download = await client.get("/filesystem/download", params={"path": "bin/data.bin"})
    assert download.status_code == 200
    assert download.content == payload
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")


async def _in_chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_upload_without_a_path_is_an_invalid_path(client: httpx.AsyncClient) -> None:
    response = await client.post("/filesystem/upload", content=b"x")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_path"


async def test_move_renames_within_the_workspace(
    client: httpx.AsyncClient, workspace: Path
) -> None:
    await client.put("/filesystem/files", json={"path": "from.txt", "content": "moved"})
    moved = await client.post(
        "/filesystem/move", json={"source": "from.txt", "destination": "deep/to.txt"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["path"] == "deep/to.txt"
    assert (workspace / "deep/to.txt").read_text() == "moved"
    assert not (workspace / "from.txt").exists()
    missing = await client.post(
        "/filesystem/move", json={"source": "from.txt", "destination": "x.txt"}
    )
    assert missing.status_code == 404
    escape = await client.post(
        "/filesystem/move", json={"source": "deep/to.txt", "destination": "../x.txt"}
    )
    assert escape.json()["error"]["code"] == "invalid_path"


async def test_the_cargo_quota_refuses_writes_that_do_not_fit(tmp_path: Path) -> None:
    workspace = tmp_path / "quota-workspace"
    workspace.mkdir()
    # The skills Ship copies in at its start count too: 1000 bytes of room beside them.
    install_skills(workspace, [BUILTIN_SKILLS])
    settings = make_settings(workspace, workspace_limit_bytes=measure(workspace) + 1000)
    async for client in ship_client(settings):
        files = "/filesystem/files"
        fits = await client.put(files, json={"path": "a.txt", "content": "x" * 600})
        assert fits.status_code == 200
        too_big = await client.put(
            "/filesystem/files", json={"path": "b.txt", "content": "y" * 500}
        )
        assert too_big.status_code == 429
        assert too_big.json()["error"]["code"] == "quota_exceeded"
        assert "nothing was written" in too_big.json()["error"]["message"]
        upload = await client.post(
            "/filesystem/upload", params={"path": "c.bin"}, content=_in_chunks(b"z" * 500, 100)
        )
        assert upload.status_code == 429
        declared = await client.post(
            "/filesystem/upload", params={"path": "c.bin", "size": 500}, content=b"z"
        )
        assert declared.status_code == 429
        # Replacing a file counts only the difference.
        smaller = await client.put(
            "/filesystem/files", json={"path": "a.txt", "content": "x" * 900}
        )
        assert smaller.status_code == 200
        # No temporary left (the skills and .bay were there before).
        assert sorted(p.name for p in workspace.iterdir()) == [".bay", "a.txt", "skills"]
