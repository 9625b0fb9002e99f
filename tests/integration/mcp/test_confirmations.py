"""Confirmations over stdio with the real `bay-mcp`, real Docker and Ship: the SDK's
client with an elicitation callback, at 2026-07-28 (the question rides the result) and
at the legacy protocol (a request during the call). Declining keeps the sandbox and
its files; accepting deletes them."""

from __future__ import annotations

import pytest
from mcp import Client

from tests.integration.http.test_mcp_confirmations import Person
from tests.integration.mcp.conftest import BayServer, call, new_sandbox, text_of

MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])  # auto: 2026-07-28


async def sandbox_with_a_file(client: Client) -> str:
    sandbox_id = await new_sandbox(client)
    await call(client, "write_file", sandbox_id=sandbox_id, path="data/keep.txt", content="42\n")
    return sandbox_id


@MODES
async def test_over_stdio_declining_keeps_the_sandbox_and_accepting_deletes_it(
    bay_server: BayServer, mode: str
) -> None:
    person = Person("decline")
    async with Client(
        bay_server.params(), mode=mode, elicitation_callback=person, read_timeout_seconds=180
    ) as client:
        sandbox_id = await sandbox_with_a_file(client)
        kept = await call(client, "delete_sandbox", sandbox_id=sandbox_id)
        assert kept.structured_content is not None
        assert kept.structured_content["status"] == "kept", text_of(kept)
        read = await call(client, "read_file", sandbox_id=sandbox_id, path="data/keep.txt")
        assert text_of(read) == "42\n"

        person.action = "accept"
        deleted = await call(client, "delete_sandbox", sandbox_id=sandbox_id)
        assert deleted.structured_content is not None
        assert deleted.structured_content["status"] == "deleted"
        assert (await client.call_tool("get_sandbox", {"sandbox_id": sandbox_id})).is_error
    assert person.questions == 2 * [
        f"Delete sandbox {sandbox_id} and its 1 file (3 bytes) in /workspace? "
        "This cannot be undone."
    ]


async def test_over_stdio_a_restore_over_a_newer_file_names_it(bay_server: BayServer) -> None:
    person = Person("decline")
    async with Client(
        bay_server.params(), elicitation_callback=person, read_timeout_seconds=180
    ) as client:
        sandbox_id = await sandbox_with_a_file(client)
        taken = await call(client, "snapshot_sandbox", sandbox_id=sandbox_id)
        assert taken.structured_content is not None
        snapshot_id = taken.structured_content["id"]
        await call(client, "shell_exec", sandbox_id=sandbox_id, command="echo new > later.txt")
        kept = await call(
            client, "restore_snapshot", sandbox_id=sandbox_id, snapshot_id=snapshot_id
        )
        assert kept.structured_content is not None
        assert kept.structured_content["status"] == "kept"
        listed = await call(client, "list_files", sandbox_id=sandbox_id)
        assert "later.txt" in text_of(listed)
        person.action = "accept"
        await call(client, "delete_snapshot", sandbox_id=sandbox_id, snapshot_id=snapshot_id)
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    assert (
        "1 file made or changed in /workspace since then will be lost: later.txt"
        in (person.questions[0])
    )
    assert person.questions[1].startswith(f"Delete snapshot {snapshot_id} (")
