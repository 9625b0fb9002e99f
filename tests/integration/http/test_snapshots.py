"""Snapshots and forks on real Docker: a restore brings back the files and only them
(and a fresh kernel), forks diverge, a snapshot waits for a run that writes, quotas
refuse clearly, snapshot volumes go with their sandbox, other owners see nothing; over
REST and over MCP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.http.conftest import (
    HttpBay,
    error_of,
    mcp_http,
    running_server,
    text_of,
    wait_for_file,
)


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice", "bob"), BAY_GC_ENABLED="false") as bay:
        yield bay


@pytest.fixture(scope="module")
def alice(server: HttpBay) -> Iterator[httpx.Client]:
    with server.client("alice") as client:
        yield client


def new_sandbox(client: httpx.Client) -> str:
    made = client.post("/v1/sandboxes", json={})
    assert made.status_code == 201, made.text
    sandbox_id: str = made.json()["id"]
    return sandbox_id


def shell(client: httpx.Client, sandbox_id: str, command: str, timeout: int = 60) -> str:
    ran = client.post(
        f"/v1/sandboxes/{sandbox_id}/shell/exec", json={"command": command, "timeout": timeout}
    )
    assert ran.status_code == 200, ran.text
    assert ran.json()["exit_code"] == 0, ran.json()
    output: str = ran.json()["output"]
    return output


def python(client: httpx.Client, sandbox_id: str, code: str) -> dict[str, Any]:
    ran = client.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": code})
    assert ran.status_code == 200, ran.text
    result: dict[str, Any] = ran.json()
    return result


def snapshot(client: httpx.Client, sandbox_id: str, name: str | None = None) -> dict[str, Any]:
    taken = client.post(f"/v1/sandboxes/{sandbox_id}/snapshots", json={"name": name})
    assert taken.status_code == 201, taken.text
    body: dict[str, Any] = taken.json()
    return body


def test_restore_brings_back_the_files_and_only_them_with_a_fresh_kernel(
    alice: httpx.Client, server: HttpBay
) -> None:
    sandbox_id = new_sandbox(alice)
    shell(alice, sandbox_id, "mkdir -p d && echo one > d/a.txt && chmod 600 d/a.txt")
    python(alice, sandbox_id, "x = 41")
    taken = snapshot(alice, sandbox_id, "first")
    assert taken["id"].startswith("snap-")
    assert taken["name"] == "first"
    assert taken["size_bytes"] > 0
    assert taken["copy_ms"] >= 0
    assert taken["kernel_state_saved"] is False
    assert "kernel's memory" in taken["message"]

    shell(alice, sandbox_id, "echo two > d/a.txt && echo new > b.txt && mkdir e")
    assert python(alice, sandbox_id, "x + 1")["output"].strip() == "42"
    restored = alice.post(f"/v1/sandboxes/{sandbox_id}/snapshots/{taken['id']}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["kernel_restarted"] is True
    assert "fresh Python kernel" in restored.json()["message"]

    # `skills` is Ship's (copied in at its start), in the snapshot and again after.
    listing = shell(alice, sandbox_id, "cat d/a.txt; ls; stat -c %a d/a.txt")
    assert listing.split() == ["one", "d", "skills", "600"]
    gone = python(alice, sandbox_id, "x")
    assert gone["success"] is False
    assert "NameError" in gone["error"]
    # The snapshot is kept after a restore; no copy helper is left behind.
    listed = alice.get(f"/v1/sandboxes/{sandbox_id}/snapshots").json()["snapshots"]
    assert [s["id"] for s in listed] == [taken["id"]]
    assert server.containers(role="volume-copy") == []
    alice.delete(f"/v1/sandboxes/{sandbox_id}")


def test_forks_diverge_from_their_source(alice: httpx.Client) -> None:
    source = new_sandbox(alice)
    shell(alice, source, "echo base > shared.txt")
    taken = snapshot(alice, source)
    shell(alice, source, "echo later > later.txt")

    made = alice.post(f"/v1/sandboxes/{source}/fork", json={})
    assert made.status_code == 201, made.text
    now = made.json()
    assert (now["forked_from"], now["snapshot_id"], now["profile"]) == (
        source,
        None,
        "python-default",
    )
    assert now["id"] != source
    assert now["cargo_id"] != alice.get(f"/v1/sandboxes/{source}").json()["cargo_id"]
    old = alice.post(f"/v1/sandboxes/{source}/fork", json={"snapshot_id": taken["id"]}).json()

    shell(alice, now["id"], "echo fork > shared.txt")
    shell(alice, source, "echo source > shared.txt")
    assert shell(alice, now["id"], "cat shared.txt; ls").split() == [
        "fork",
        "later.txt",
        "shared.txt",
        "skills",
    ]
    assert shell(alice, source, "cat shared.txt").strip() == "source"
    assert shell(alice, old["id"], "cat shared.txt; ls").split() == ["base", "shared.txt", "skills"]
    # A fork holds nothing of its source: it outlives it, files and all.
    alice.delete(f"/v1/sandboxes/{source}")
    assert shell(alice, old["id"], "cat shared.txt").strip() == "base"
    for fork in (now["id"], old["id"]):
        alice.delete(f"/v1/sandboxes/{fork}")


def test_a_snapshot_waits_for_a_run_that_writes(server: HttpBay, alice: httpx.Client) -> None:
    sandbox_id = new_sandbox(alice)
    shell(alice, sandbox_id, "mkdir out")
    loop = "for i in $(seq 1 30); do echo $i > out/$i.txt; sleep 0.1; done"
    ran: dict[str, float] = {}

    def run() -> None:
        with server.client("alice") as other:
            shell(other, sandbox_id, loop)
        ran["ended"] = time.monotonic()

    writer = threading.Thread(target=run)
    writer.start()
    wait_for_file(alice, sandbox_id, "out/3.txt")  # the loop is under way
    taken = snapshot(alice, sandbox_id)
    took = time.monotonic()
    writer.join()
    assert ran["ended"] <= took  # the snapshot was taken after the run ended
    fork = alice.post(f"/v1/sandboxes/{sandbox_id}/fork", json={"snapshot_id": taken["id"]})
    assert fork.status_code == 201, fork.text
    counted = shell(alice, fork.json()["id"], "ls out | wc -l; cat out/30.txt")
    assert counted.split() == ["30", "30"]
    for made in (sandbox_id, fork.json()["id"]):
        alice.delete(f"/v1/sandboxes/{made}")


def test_deleting_a_sandbox_deletes_its_snapshot_volumes(
    server: HttpBay, alice: httpx.Client
) -> None:
    sandbox_id = new_sandbox(alice)
    shell(alice, sandbox_id, "echo kept > a.txt")
    first = snapshot(alice, sandbox_id)
    second = snapshot(alice, sandbox_id)
    for taken in (first, second):
        [volume] = server.volumes(snapshot_id=taken["id"])
        assert volume == f"bay-snapshot-{taken['id']}"
    deleted = alice.delete(f"/v1/sandboxes/{sandbox_id}/snapshots/{first['id']}")
    assert deleted.status_code == 204
    assert server.volumes(snapshot_id=first["id"]) == []
    error_of(alice.delete(f"/v1/sandboxes/{sandbox_id}/snapshots/{first['id']}"), 404, "not_found")

    assert alice.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204
    assert server.volumes(snapshot_id=second["id"]) == []
    assert server.volumes(sandbox_id=sandbox_id) == []


def test_another_owner_sees_none_of_it(server: HttpBay, alice: httpx.Client) -> None:
    sandbox_id = new_sandbox(alice)
    taken = snapshot(alice, sandbox_id)
    base = f"/v1/sandboxes/{sandbox_id}"
    with server.client("bob") as bob:
        error_of(bob.get(f"{base}/snapshots"), 404, "not_found")
        error_of(bob.post(f"{base}/snapshots", json={}), 404, "not_found")
        error_of(bob.delete(f"{base}/snapshots/{taken['id']}"), 404, "not_found")
        error_of(bob.post(f"{base}/snapshots/{taken['id']}/restore"), 404, "not_found")
        error_of(bob.post(f"{base}/fork", json={"snapshot_id": taken["id"]}), 404, "not_found")
        # Nor can bob use alice's snapshot from a sandbox of his own.
        his = new_sandbox(bob)
        error_of(bob.post(f"/v1/sandboxes/{his}/snapshots/{taken['id']}/restore"), 404, "not_found")
        bob.delete(f"/v1/sandboxes/{his}")
    assert [s["id"] for s in alice.get(f"{base}/snapshots").json()["snapshots"]] == [taken["id"]]
    alice.delete(base)


def test_quota_refusals_name_the_limit_and_what_to_delete() -> None:
    with (
        running_server(
            ("carol",),
            BAY_GC_ENABLED="false",
            BAY_MAX_SNAPSHOTS_PER_OWNER="2",
            BAY_MAX_SNAPSHOT_MB_PER_OWNER="3",
        ) as small,
        small.client("carol") as carol,
    ):
        sandbox_id = new_sandbox(carol)
        shell(carol, sandbox_id, "head -c 2000000 /dev/urandom > blob")
        big = snapshot(carol, sandbox_id)
        error = error_of(
            carol.post(f"/v1/sandboxes/{sandbox_id}/snapshots", json={}), 429, "quota_exceeded"
        )
        message = str(error["message"])
        assert "BAY_MAX_SNAPSHOT_MB_PER_OWNER" in message
        assert "delete_snapshot" in message
        assert big["id"] in message
        assert len(small.volumes(sandbox_id=sandbox_id)) == 2  # the cargo and one snapshot

        shell(carol, sandbox_id, "rm blob")
        snapshot(carol, sandbox_id)
        error = error_of(
            carol.post(f"/v1/sandboxes/{sandbox_id}/snapshots", json={}), 429, "quota_exceeded"
        )
        assert "BAY_MAX_SNAPSHOTS_PER_OWNER=2" in str(error["message"])
        details: Any = error["details"]
        assert details["snapshots"][0]["snapshot_id"] == big["id"]
        carol.delete(f"/v1/sandboxes/{sandbox_id}/snapshots/{big['id']}")
        snapshot(carol, sandbox_id)
        carol.delete(f"/v1/sandboxes/{sandbox_id}")


async def test_snapshot_restore_and_fork_over_mcp(server: HttpBay) -> None:
    async with mcp_http(server, "alice") as client:
        made = await client.call_tool("create_sandbox", {})
        assert made.structured_content is not None
        sandbox_id = made.structured_content["id"]
        write = {"sandbox_id": sandbox_id, "path": "notes.txt", "content": "v1"}
        await client.call_tool("write_file", write)
        taken = await client.call_tool("snapshot_sandbox", {"sandbox_id": sandbox_id, "name": "v1"})
        assert not taken.is_error, text_of(taken)
        assert taken.structured_content is not None
        snapshot_id = taken.structured_content["id"]
        assert "kernel" in taken.structured_content["message"]

        listed = await client.call_tool("list_snapshots", {"sandbox_id": sandbox_id})
        assert listed.structured_content is not None
        assert [s["name"] for s in listed.structured_content["snapshots"]] == ["v1"]

        await client.call_tool("write_file", {**write, "content": "v2"})
        restored = await client.call_tool(
            "restore_snapshot", {"sandbox_id": sandbox_id, "snapshot_id": snapshot_id}
        )
        assert not restored.is_error, text_of(restored)
        read = await client.call_tool("read_file", {"sandbox_id": sandbox_id, "path": "notes.txt"})
        assert text_of(read) == "v1"

        forked = await client.call_tool("fork_sandbox", {"sandbox_id": sandbox_id})
        assert not forked.is_error, text_of(forked)
        assert forked.structured_content is not None
        fork_id = forked.structured_content["id"]
        read = await client.call_tool("read_file", {"sandbox_id": fork_id, "path": "notes.txt"})
        assert text_of(read) == "v1"

        missing = await client.call_tool(
            "restore_snapshot", {"sandbox_id": fork_id, "snapshot_id": snapshot_id}
        )
        assert missing.is_error
        assert "list_snapshots" in text_of(missing)
        for made_id in (sandbox_id, fork_id):
            await client.call_tool("delete_sandbox", {"sandbox_id": made_id})
