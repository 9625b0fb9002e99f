"""Execution history over REST and MCP (real server, real sandboxes): what ran is
kept with its outcome and the caller's annotations, filtered, annotated, capped per
sandbox, owner-scoped, and gone with the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.http.conftest import (
    HttpBay,
    error_of,
    mcp_http,
    mcp_sse,
    running_server,
    text_of,
)


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice", "bob"), BAY_HISTORY_MAX_ENTRIES="5") as bay:
        yield bay


@pytest.fixture(scope="module")
def alice(server: HttpBay) -> Iterator[httpx.Client]:
    with server.client("alice") as client:
        yield client


def run(client: httpx.Client, sandbox_id: str, kind: str, body: dict[str, object]) -> str:
    response = client.post(f"/v1/sandboxes/{sandbox_id}/{kind}/exec", json=body)
    assert response.status_code == 200, response.text
    execution_id: str = response.json()["execution_id"]
    return execution_id


async def test_runs_are_recorded_filtered_and_annotated(
    server: HttpBay, alice: httpx.Client
) -> None:
    sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
    base = f"/v1/sandboxes/{sandbox}/history"
    echoed = alice.post(f"/v1/sandboxes/{sandbox}/python/exec",
                        json={"code": "print(6 * 7)", "description": "the answer",
                              "tags": "math, first", "include_code": True})  # fmt: skip
    assert echoed.json()["code"] == "print(6 * 7)"
    python_id = echoed.json()["execution_id"]
    failed_id = run(alice, sandbox, "python", {"code": "1/0", "tags": "math"})
    shell_id = run(alice, sandbox, "shell", {"command": "echo hi; exit 3"})
    quiet = alice.post(f"/v1/sandboxes/{sandbox}/shell/exec", json={"command": "true"})
    assert quiet.json()["code"] is None  # echoed only when include_code is set

    page = alice.get(base).json()
    assert page["total"] == 4
    assert [e["id"] for e in page["entries"]][1:] == [shell_id, failed_id, python_id]
    first = alice.get(f"{base}/{python_id}").json()
    assert first["exec_type"] == "python"
    assert first["code"] == "print(6 * 7)"
    assert first["success"] is True
    assert first["output"] == "42\n"
    assert first["description"] == "the answer"
    assert first["tags"] == "math,first"
    assert first["session_id"].startswith("sess-")
    assert first["execution_time_ms"] >= 0
    failed = alice.get(f"{base}/{failed_id}").json()
    assert failed["success"] is False
    assert failed["error"].startswith("ZeroDivisionError")
    shell = alice.get(f"{base}/{shell_id}").json()
    assert (shell["exec_type"], shell["exit_code"], shell["output"]) == ("shell", 3, "hi\n")

    only = alice.get(base, params={"exec_type": "python", "success_only": "true"}).json()
    assert [e["id"] for e in only["entries"]] == [python_id]
    tagged = alice.get(base, params={"tags": "math"}).json()
    assert [e["id"] for e in tagged["entries"]] == [failed_id, python_id]
    both = alice.get(base, params={"tags": "math,first"}).json()
    assert [e["id"] for e in both["entries"]] == [python_id]
    described = alice.get(base, params={"has_description": "true"}).json()
    assert [e["id"] for e in described["entries"]] == [python_id]
    window = alice.get(base, params={"limit": 1, "offset": 1}).json()
    assert [e["id"] for e in window["entries"]] == [shell_id]
    assert window["total"] == 4
    assert alice.get(f"{base}/last", params={"exec_type": "shell"}).json()["exec_type"] == "shell"

    annotated = alice.patch(f"{base}/{failed_id}", json={"notes": "divide by 7 instead",
                                                          "tags": "math,fixed"})  # fmt: skip
    assert annotated.status_code == 200, annotated.text
    assert (annotated.json()["notes"], annotated.json()["tags"]) == (
        "divide by 7 instead", "math,fixed"
    )  # fmt: skip
    assert [e["id"] for e in alice.get(base, params={"has_notes": "true"}).json()["entries"]] == [
        failed_id
    ]

    error_of(alice.get(base, params={"exec_type": "perl"}), 400, "validation_error")
    error_of(alice.get(f"{base}/exec-nope"), 404, "not_found")
    with server.client("bob") as bob:
        error_of(bob.get(base), 404, "not_found")
        error_of(bob.get(f"{base}/{python_id}"), 404, "not_found")
        error_of(bob.patch(f"{base}/{python_id}", json={"notes": "x"}), 404, "not_found")

    for connect in (mcp_http, mcp_sse):
        async with connect(server, "alice") as client:
            shells = {"sandbox_id": sandbox, "exec_type": "shell"}
            listed = await client.call_tool("get_execution_history", shells)
            assert listed.structured_content is not None
            assert listed.structured_content["total"] == 2
            one = {"sandbox_id": sandbox, "execution_id": python_id}
            got = await client.call_tool("get_execution", one)
            assert got.structured_content is not None
            assert got.structured_content["output"] == "42\n"
            noted = await client.call_tool(
                "annotate_execution",
                {"sandbox_id": sandbox, "execution_id": shell_id, "description": "exit check"},
            )
            assert noted.structured_content is not None
            assert noted.structured_content["description"] == "exit check"
            ran = await client.call_tool("python_exec", {"sandbox_id": sandbox, "code": "1",
                                                         "tags": "from-mcp"})  # fmt: skip
            assert not ran.is_error, text_of(ran)
    assert alice.get(base, params={"tags": "from-mcp"}).json()["total"] == 2

    assert alice.delete(f"/v1/sandboxes/{sandbox}").status_code == 204
    error_of(alice.get(base), 404, "not_found")


def test_history_keeps_the_newest_entries_only(alice: httpx.Client) -> None:
    sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
    made = [run(alice, sandbox, "shell", {"command": f"echo {n}"}) for n in range(7)]
    page = alice.get(f"/v1/sandboxes/{sandbox}/history").json()
    assert page["total"] == 5  # BAY_HISTORY_MAX_ENTRIES
    assert [e["id"] for e in page["entries"]] == made[:1:-1]
    assert alice.delete(f"/v1/sandboxes/{sandbox}").status_code == 204
