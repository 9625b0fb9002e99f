"""The path rule, directly and through every path-taking endpoint."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from ship.errors import InvalidPath
from ship.paths import resolve

ESCAPES = [
    "",
    "   ",
    "/etc/passwd",
    "/workspace/file.txt",
    "//etc/passwd",
    "..",
    "../",
    "../etc/passwd",
    "../../../../etc/shadow",
    "a/../../b",
    "./../x",
    "a/b/../../../c",
    "data/../../outside",
    "..\x00/x",
    "file\x00.txt",
    "\x00",
    "x" * 5000,
    "link-to-root/etc/passwd",
    "link-to-root",
    "link-to-etc/hostname",
    "link-to-parent/escaped.txt",
    "nested/link-to-etc/passwd",
    "relative-link-out/secret",
]
# Paths that look odd but stay inside the workspace.
INSIDE = ["a.txt", "./a.txt", "a/b/../c.txt", "dir/", "~/x", "...", "a..b", "link-inside/f"]


@pytest.fixture(scope="module")
def escape_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("paths")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    workspace = base / "workspace"
    (workspace / "nested").mkdir(parents=True)
    (workspace / "real-dir").mkdir()
    os.symlink("/", workspace / "link-to-root")
    os.symlink("/etc", workspace / "link-to-etc")
    os.symlink("/etc", workspace / "nested" / "link-to-etc")
    os.symlink("..", workspace / "link-to-parent")
    os.symlink("../outside", workspace / "relative-link-out")
    os.symlink("real-dir", workspace / "link-inside")
    return workspace


def test_escape_corpus_is_large_enough() -> None:
    assert len(ESCAPES) >= 20


@pytest.mark.parametrize("raw", ESCAPES)
def test_escapes_are_refused(escape_workspace: Path, raw: str) -> None:
    with pytest.raises(InvalidPath):
        resolve(escape_workspace, raw, allow_root=False)


@pytest.mark.parametrize("raw", INSIDE)
def test_inside_paths_are_accepted(escape_workspace: Path, raw: str) -> None:
    checked = resolve(escape_workspace, raw)
    root = escape_workspace.resolve()
    assert checked.real == root or root in checked.real.parents


def test_root_is_refused_only_where_it_must_be(escape_workspace: Path) -> None:
    assert resolve(escape_workspace, ".").is_root
    with pytest.raises(InvalidPath, match="workspace root"):
        resolve(escape_workspace, ".", allow_root=False)


def test_error_says_what_to_do(escape_workspace: Path) -> None:
    with pytest.raises(InvalidPath, match="relative to /workspace"):
        resolve(escape_workspace, "/etc/passwd")


ENDPOINT_ESCAPES = ["/decoy/secret", "../decoy/secret", "leak", "leak-dir/secret", "a\x00b"]


@pytest.fixture(scope="module")
def decoy(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside the workspace, reachable only through planted symlinks.

    A decoy rather than /etc: these tests run as root, and a broken rule must not
    be able to overwrite the host's files.
    """
    decoy = tmp_path_factory.mktemp("decoy")
    (decoy / "secret").write_text("secret")
    os.symlink(decoy / "secret", workspace / "leak")
    os.symlink(decoy, workspace / "leak-dir")
    return decoy


def _assert_invalid_path(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_path"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("raw", ENDPOINT_ESCAPES)
async def test_every_path_endpoint_refuses_escapes(
    client: httpx.AsyncClient, decoy: Path, raw: str
) -> None:
    _assert_invalid_path(await client.get("/filesystem/files", params={"path": raw}))
    _assert_invalid_path(
        await client.put("/filesystem/files", json={"path": raw, "content": "pwned"})
    )
    if raw != "leak":  # deleting a link removes the link: see the test below
        _assert_invalid_path(await client.delete("/filesystem/files", params={"path": raw}))
    _assert_invalid_path(await client.get("/filesystem/directories", params={"path": raw}))
    _assert_invalid_path(await client.get("/filesystem/download", params={"path": raw}))
    _assert_invalid_path(
        await client.post("/filesystem/upload", params={"path": raw}, content=b"pwned")
    )
    _assert_invalid_path(await client.post("/shell/exec", json={"command": "pwd", "cwd": raw}))
    # Nothing outside was read into a response, written, or deleted.
    assert sorted(p.name for p in decoy.iterdir()) == ["secret"]
    assert (decoy / "secret").read_text() == "secret"


@pytest.mark.asyncio(loop_scope="module")
async def test_deleting_an_outward_link_removes_only_the_link(
    client: httpx.AsyncClient, workspace: Path, decoy: Path
) -> None:
    os.symlink(decoy / "secret", workspace / "out-link")
    os.symlink(decoy, workspace / "out-dir-link")
    for name in ("out-link", "out-dir-link"):
        response = await client.delete("/filesystem/files", params={"path": name})
        assert response.status_code == 200, response.text
        assert not os.path.lexists(workspace / name)
    assert (decoy / "secret").read_text() == "secret"
