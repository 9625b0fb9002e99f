"""A cargo's files over `/v1/cargos/{id}/filesystem/...` with no sandbox running.

Written with no container of the sandbox (the engine's list, by Bay's labels, shows
none), read back from the started sandbox and the other way; owned by the sandbox
user; listed, deleted, uploaded, downloaded; refused while an exec runs on a sandbox
holding the cargo; escaping paths refused as the sandbox's routes refuse them;
another owner's cargo is 404; a stopped sandbox's `cargo://` resource is read over MCP
without starting it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from mcp.types import TextResourceContents

from tests.integration.conftest import docker
from tests.integration.http.conftest import HttpBay, error_of, mcp_http, running_server

DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice", "bob")) as bay:
        yield bay


@pytest.fixture(scope="module")
def alice(server: HttpBay) -> Iterator[httpx.Client]:
    with server.client("alice") as client:
        yield client


@pytest.fixture
def sandbox(alice: httpx.Client) -> Iterator[tuple[str, str]]:
    """A new idle sandbox: its id and its cargo's."""
    body = alice.post("/v1/sandboxes", json={"env": {"GREETING": "hi"}}).json()
    yield body["id"], body["cargo_id"]
    alice.delete(f"/v1/sandboxes/{body['id']}")


def files(cargo_id: str, what: str = "files") -> str:
    return f"/v1/cargos/{cargo_id}/filesystem/{what}"


def python(client: httpx.Client, sandbox_id: str, code: str) -> str:
    response = client.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": code})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"], body
    return str(body["output"])


def test_written_with_no_sandbox_running_then_read_by_the_sandbox(
    server: HttpBay, alice: httpx.Client, sandbox: tuple[str, str]
) -> None:
    sandbox_id, cargo_id = sandbox
    written = alice.put(files(cargo_id), json={"path": "notes/a.txt", "content": "from outside"})
    assert written.status_code == 200, written.text
    assert written.json() == {"status": "ok"}
    read = alice.get(files(cargo_id), params={"path": "notes/a.txt"})
    assert read.json() == {"content": "from outside"}
    assert server.containers(sandbox_id=sandbox_id) == []  # the sandbox never started

    seen = python(
        alice,
        sandbox_id,
        "import os; p = '/workspace/notes/a.txt'; "
        "print(open(p).read(), os.stat(p).st_uid, os.stat('/workspace/notes').st_uid)",
    )
    assert seen.split() == ["from", "outside", "1000", "1000"]


def test_written_by_the_sandbox_then_read_with_the_sandbox_stopped(
    server: HttpBay, alice: httpx.Client, sandbox: tuple[str, str]
) -> None:
    sandbox_id, cargo_id = sandbox
    python(alice, sandbox_id, "open('/workspace/inside.txt', 'w').write('from inside')")
    assert alice.post(f"/v1/sandboxes/{sandbox_id}/stop").status_code == 200
    assert server.containers(sandbox_id=sandbox_id) == []

    assert alice.get(files(cargo_id), params={"path": "inside.txt"}).json() == {
        "content": "from inside"
    }
    listing = alice.get(files(cargo_id, "directories"), params={"path": "."}).json()
    names = {entry["name"] for entry in listing["entries"]}
    assert "inside.txt" in names
    assert ".bay_env.sh" in names  # the sandbox's, left as it is by the helper
    assert server.containers(sandbox_id=sandbox_id) == []


def test_list_delete_upload_download(alice: httpx.Client, sandbox: tuple[str, str]) -> None:
    _, cargo_id = sandbox
    payload = bytes(range(256)) * 40
    uploaded = alice.post(
        files(cargo_id, "upload"),
        files={"file": ("blob.bin", payload)},
        data={"path": "data/blob.bin"},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {"status": "ok", "path": "data/blob.bin", "size": len(payload)}

    downloaded = alice.get(files(cargo_id, "download"), params={"path": "data/blob.bin"})
    assert downloaded.status_code == 200
    assert downloaded.content == payload
    assert downloaded.headers["content-type"] == "application/octet-stream"
    assert "attachment" in downloaded.headers["content-disposition"]

    listing = alice.get(files(cargo_id, "directories"), params={"path": "data"}).json()
    [entry] = listing["entries"]
    assert (entry["name"], entry["path"], entry["type"], entry["size"]) == (
        "blob.bin",
        "data/blob.bin",
        "file",
        len(payload),
    )
    binary = alice.get(files(cargo_id), params={"path": "data/blob.bin"})
    error_of(binary, 400, "validation_error")

    deleted = alice.delete(files(cargo_id), params={"path": "data/blob.bin"})
    assert deleted.json() == {"status": "ok"}
    error_of(alice.get(files(cargo_id, "download"), params={"path": "data/blob.bin"}), 404,
             "file_not_found")  # fmt: skip
    assert alice.get(files(cargo_id, "directories"), params={"path": "data"}).json() == {
        "entries": []
    }


def test_escaping_paths_are_refused_as_in_the_sandbox(
    alice: httpx.Client, sandbox: tuple[str, str]
) -> None:
    sandbox_id, cargo_id = sandbox
    python(alice, sandbox_id, "import os; os.symlink('/etc', '/workspace/etc-link')")
    for path in ("../x", "/etc/passwd", "a/../../x", "etc-link/passwd"):
        outside = alice.get(files(cargo_id), params={"path": path})
        inside = alice.get(f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": path})
        assert (
            error_of(outside, 400, "invalid_path")["code"]
            == error_of(inside, 400, "invalid_path")["code"]
        ), path
        put = alice.put(files(cargo_id), json={"path": path, "content": "x"})
        error_of(put, 400, "invalid_path")


def test_another_owner_gets_404(server: HttpBay, sandbox: tuple[str, str]) -> None:
    _, cargo_id = sandbox
    with server.client("bob") as bob:
        error_of(bob.get(files(cargo_id), params={"path": "a"}), 404, "not_found")
        error_of(bob.put(files(cargo_id), json={"path": "a", "content": "x"}), 404, "not_found")
        error_of(bob.get(files(cargo_id, "directories")), 404, "not_found")


def test_a_write_during_an_exec_is_refused_with_conflict(
    alice: httpx.Client, sandbox: tuple[str, str]
) -> None:
    sandbox_id, cargo_id = sandbox
    python(alice, sandbox_id, "1")  # started, so the exec below runs at once
    code = (
        "import os, time\n"
        f"end = time.monotonic() + {DEADLINE_S}\n"
        "while not os.path.exists('/workspace/go') and time.monotonic() < end:\n"
        "    time.sleep(0.02)\n"
        "print(os.path.exists('/workspace/go'))\n"
    )
    answers: list[httpx.Response] = []
    running = threading.Thread(
        target=lambda: answers.append(
            alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": code})
        )
    )
    running.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            put = alice.put(files(cargo_id), json={"path": "probe.txt", "content": "x"})
            if put.status_code == 409:
                break
            assert put.status_code == 200, put.text  # the exec has not started yet
            assert time.monotonic() < deadline, "the exec never showed as running"
        error = error_of(put, 409, "conflict")
        assert error["details"] == {"active_sandbox_ids": [sandbox_id]}
        assert "retry" in str(error["message"]).lower()
        error_of(alice.delete(files(cargo_id), params={"path": "probe.txt"}), 409, "conflict")
        # Reads go on; the sandbox's own routes too (they release the exec).
        assert alice.get(files(cargo_id, "directories")).status_code == 200
        released = alice.put(
            f"/v1/sandboxes/{sandbox_id}/filesystem/files", json={"path": "go", "content": ""}
        )
        assert released.status_code == 200, released.text
    finally:
        running.join(DEADLINE_S + 30)
    [answer] = answers
    assert answer.json()["output"].strip() == "True"
    after = alice.put(files(cargo_id), json={"path": "probe.txt", "content": "after"})
    assert after.status_code == 200, after.text


async def test_a_stopped_sandboxs_resource_is_read_over_mcp_without_starting_it(
    server: HttpBay, alice: httpx.Client, sandbox: tuple[str, str]
) -> None:
    sandbox_id, cargo_id = sandbox
    python(alice, sandbox_id, "open('/workspace/hello.md', 'w').write('# Hi')")
    assert alice.post(f"/v1/sandboxes/{sandbox_id}/stop").status_code == 200
    async with mcp_http(server, "alice") as client:
        read = await client.read_resource(f"cargo://{sandbox_id}/hello.md")
    [content] = read.contents
    assert isinstance(content, TextResourceContents)
    assert (content.text, content.mime_type) == ("# Hi", "text/markdown")
    assert server.containers(sandbox_id=sandbox_id) == []
    assert server.containers(cargo_id=cargo_id, role="cargo-files") != []  # its helper


def test_a_removed_helper_is_replaced_and_bay_removes_its_helpers_when_it_stops() -> None:
    with running_server(("alice",)) as bay, bay.client("alice") as client:
        cargo_id = client.post("/v1/cargos", json={}).json()["id"]
        assert client.put(files(cargo_id), json={"path": "a", "content": "x"}).status_code == 200
        [helper] = bay.containers(cargo_id=cargo_id, role="cargo-files")
        docker("rm", "-f", helper)  # behind Bay's back
        assert client.get(files(cargo_id), params={"path": "a"}).json() == {"content": "x"}
        [replaced] = bay.containers(cargo_id=cargo_id, role="cargo-files")
        assert replaced != helper
        assert bay.process is not None
        bay.process.terminate()
        bay.process.wait(timeout=30)
        assert bay.containers(role="cargo-files") == []
