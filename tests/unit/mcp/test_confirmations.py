"""Confirmations by elicitation, in memory: the SDK's Client with an elicitation
callback that accepts, declines or is absent, at 2026-07-28 (the question rides the
result) and at the legacy protocol (a request in the middle of the call)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp_types import CallToolResult, ElicitRequestParams, ElicitResult, TextContent

from bay_mcp.bay import Bay
from bay_mcp.limits import MB
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from tests.fakes import FakeDriver, FakeShip

Answer = Callable[[ClientRequestContext, ElicitRequestParams], Awaitable[ElicitResult]]
MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])  # auto: 2026-07-28


@pytest.fixture
def server(bay: Bay) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, lambda ctx: "alice")


class Person:
    """An elicitation callback that records each question and answers as told."""

    def __init__(
        self, action: Literal["accept", "decline", "cancel"] = "accept", confirm: bool = True
    ) -> None:
        self.action = action
        self.confirm = confirm
        self.questions: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        self.questions.append(params.message)
        schema = getattr(params, "requested_schema", {})
        assert schema["properties"]["confirm"]["type"] == "boolean"
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


async def sandbox_with_files(client: Client) -> str:
    sandbox_id: str = (await call(client, "create_sandbox"))["id"]
    await call(client, "write_file", sandbox_id=sandbox_id, path="notes.txt", content="hello")
    await call(client, "write_file", sandbox_id=sandbox_id, path="src/app.py", content="x = 1\n")
    return sandbox_id


@MODES
async def test_a_person_who_declines_keeps_the_sandbox_and_its_files(
    server: BayMCPServer, mode: str
) -> None:
    person = Person("decline")
    async with Client(server, mode=mode, elicitation_callback=person) as client:
        sandbox_id = await sandbox_with_files(client)
        result = await client.call_tool("delete_sandbox", {"sandbox_id": sandbox_id})
        assert not result.is_error
        assert result.structured_content is not None
        assert result.structured_content["status"] == "kept"
        assert "Not deleted: the user declined. Nothing was changed." in text_of(result)
        read = await client.call_tool("read_file", {"sandbox_id": sandbox_id, "path": "notes.txt"})
        assert text_of(read) == "hello"
        assert (await call(client, "get_sandbox", sandbox_id=sandbox_id))["id"] == sandbox_id
    assert person.questions == [
        f"Delete sandbox {sandbox_id} and its 2 files (11 bytes) in /workspace? "
        "This cannot be undone."
    ]


@MODES
async def test_a_person_who_accepts_sees_what_is_lost_and_the_sandbox_is_deleted(
    server: BayMCPServer, mode: str
) -> None:
    person = Person("accept")
    async with Client(server, mode=mode, elicitation_callback=person) as client:
        sandbox_id = await sandbox_with_files(client)
        assert (await call(client, "delete_sandbox", sandbox_id=sandbox_id))["status"] == "deleted"
        gone = await client.call_tool("get_sandbox", {"sandbox_id": sandbox_id})
        assert gone.is_error
    assert len(person.questions) == 1
    assert f"sandbox {sandbox_id} and its 2 files" in person.questions[0]


async def test_a_dismissed_question_or_an_unticked_box_keeps_the_sandbox(
    server: BayMCPServer,
) -> None:
    for person, why in ((Person("cancel"), "dismissed"), (Person("accept", confirm=False), "")):
        async with Client(server, elicitation_callback=person) as client:
            sandbox_id = await sandbox_with_files(client)
            result = await client.call_tool("delete_sandbox", {"sandbox_id": sandbox_id})
            assert result.structured_content is not None
            assert result.structured_content["status"] == "kept"
            assert why in text_of(result)
            await call(client, "get_sandbox", sandbox_id=sandbox_id)


@MODES
async def test_a_client_without_elicitation_deletes_at_once(
    server: BayMCPServer, mode: str
) -> None:
    async with Client(server, mode=mode) as client:
        sandbox_id = await sandbox_with_files(client)
        assert (await call(client, "delete_sandbox", sandbox_id=sandbox_id))["status"] == "deleted"
        assert (await client.call_tool("get_sandbox", {"sandbox_id": sandbox_id})).is_error


async def test_with_the_setting_off_nothing_is_asked(bay: Bay, server: BayMCPServer) -> None:
    bay.settings.confirm_destructive = False
    person = Person("decline")
    async with Client(server, elicitation_callback=person) as client:
        sandbox_id = await sandbox_with_files(client)
        assert (await call(client, "delete_sandbox", sandbox_id=sandbox_id))["status"] == "deleted"
    assert person.questions == []


async def test_an_empty_sandbox_or_an_external_cargo_is_deleted_without_asking(
    bay: Bay, server: BayMCPServer
) -> None:
    person = Person("decline")
    cargo = await bay.cargos.create("alice")
    async with Client(server, elicitation_callback=person) as client:
        empty = (await call(client, "create_sandbox"))["id"]
        assert (await call(client, "delete_sandbox", sandbox_id=empty))["status"] == "deleted"
        outside = (await call(client, "create_sandbox", cargo_id=cargo.id))["id"]
        await call(client, "write_file", sandbox_id=outside, path="kept.txt", content="kept")
        assert (await call(client, "delete_sandbox", sandbox_id=outside))["status"] == "deleted"
    assert person.questions == []


async def test_deleting_a_stopped_sandbox_counts_its_files_at_rest(
    server: BayMCPServer,
) -> None:
    person = Person("decline")
    async with Client(server, elicitation_callback=person) as client:
        sandbox_id = await sandbox_with_files(client)
        await call(client, "stop_sandbox", sandbox_id=sandbox_id)
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    assert "its 2 files (11 bytes)" in person.questions[0]


@MODES
async def test_restore_over_newer_files_asks_and_names_them(
    server: BayMCPServer, ship: FakeShip, mode: str
) -> None:
    person = Person("decline")
    async with Client(server, mode=mode, elicitation_callback=person) as client:
        sandbox_id = await sandbox_with_files(client)
        snapshot = await call(client, "snapshot_sandbox", sandbox_id=sandbox_id, name="v1")
        taken = snapshot["created_at"]
        before = _iso(taken, -60)
        ship.modified_times.update({"notes.txt": before, "src/app.py": _iso(taken, 60)})
        arguments = {"sandbox_id": sandbox_id, "snapshot_id": snapshot["id"]}
        kept = await call(client, "restore_snapshot", **arguments)
        assert (kept["status"], kept["kernel_restarted"]) == ("kept", False)
        assert "Not restored: the user declined" in kept["message"]
    assert len(person.questions) == 1
    question = person.questions[0]
    assert f"Restore snapshot {snapshot['id']} ('v1', " in question
    assert f"into sandbox {sandbox_id}? 1 file made or changed" in question
    assert question.endswith("since then will be lost: src/app.py. Python variables are lost "
                             "too (the sandbox restarts).")  # fmt: skip


async def test_restore_with_nothing_newer_does_not_ask(
    server: BayMCPServer, ship: FakeShip
) -> None:
    person = Person("decline")
    async with Client(server, elicitation_callback=person) as client:
        sandbox_id = await sandbox_with_files(client)
        snapshot = await call(client, "snapshot_sandbox", sandbox_id=sandbox_id)
        before = _iso(snapshot["created_at"], -60)
        ship.modified_times.update({"notes.txt": before, "src/app.py": before})
        restored = await call(
            client, "restore_snapshot", sandbox_id=sandbox_id, snapshot_id=snapshot["id"]
        )
        assert (restored["status"], restored["kernel_restarted"]) == ("restored", True)
    assert person.questions == []


@MODES
async def test_deleting_a_snapshot_with_files_asks_and_declining_keeps_it(
    bay: Bay, server: BayMCPServer, driver: FakeDriver, mode: str
) -> None:
    person = Person("decline")
    async with Client(server, mode=mode, elicitation_callback=person) as client:
        sandbox_id = await sandbox_with_files(client)
        cargo_id = (await call(client, "get_sandbox", sandbox_id=sandbox_id))["cargo_id"]
        driver.sizes[f"bay-cargo-{cargo_id}"] = 2 * MB
        snapshot = await call(client, "snapshot_sandbox", sandbox_id=sandbox_id)
        arguments = {"sandbox_id": sandbox_id, "snapshot_id": snapshot["id"]}
        kept = await call(client, "delete_snapshot", **arguments)
        assert kept["status"] == "kept"
        listed = await call(client, "list_snapshots", sandbox_id=sandbox_id)
        assert [s["id"] for s in listed["snapshots"]] == [snapshot["id"]]
        person.action = "accept"
        assert (await call(client, "delete_snapshot", **arguments))["status"] == "deleted"
        assert (await call(client, "list_snapshots", sandbox_id=sandbox_id))["snapshots"] == []
    assert len(person.questions) == 2
    assert f"Delete snapshot {snapshot['id']} (2.0 MB, taken " in person.questions[0]
    assert "It is the only copy of the files as they were then" in person.questions[0]


async def test_an_empty_snapshot_is_deleted_without_asking(server: BayMCPServer) -> None:
    person = Person("decline")
    async with Client(server, elicitation_callback=person) as client:
        sandbox_id = (await call(client, "create_sandbox"))["id"]
        snapshot = await call(client, "snapshot_sandbox", sandbox_id=sandbox_id)
        deleted = await call(
            client, "delete_snapshot", sandbox_id=sandbox_id, snapshot_id=snapshot["id"]
        )
        assert deleted["status"] == "deleted"
    assert person.questions == []


async def test_a_sandbox_with_snapshots_says_they_go_with_it(server: BayMCPServer) -> None:
    person = Person("decline")
    async with Client(server, elicitation_callback=person) as client:
        sandbox_id = await sandbox_with_files(client)
        await call(client, "snapshot_sandbox", sandbox_id=sandbox_id)
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    assert "Its 1 snapshot (0 bytes) is deleted with it." in person.questions[0]


async def test_an_unknown_sandbox_is_the_usual_tool_error_before_any_question(
    server: BayMCPServer,
) -> None:
    person = Person("accept")
    async with Client(server, elicitation_callback=person) as client:
        result = await client.call_tool("delete_sandbox", {"sandbox_id": "sandbox-nope"})
        assert result.is_error
        assert "sandbox-nope" in text_of(result)
    assert person.questions == []


def _iso(moment: str, seconds: int) -> str:
    shifted = datetime.fromisoformat(moment.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return shifted.isoformat()
