"""The seed chain and the lifecycle around it, through a real MCP client over stdio."""

from __future__ import annotations

import asyncio

from mcp import Client

from tests.integration.conftest import docker
from tests.integration.mcp.conftest import BayServer, call, call_error, new_sandbox, text_of

pytestmark = __import__("pytest").mark.asyncio(loop_scope="module")


async def test_seed_chain(client: Client, bay_server: BayServer) -> None:
    created = await call(client, "create_sandbox")
    assert created.structured_content is not None
    sandbox_id = created.structured_content["id"]
    cargo_id = created.structured_content["cargo_id"]
    assert created.structured_content["status"] == "idle"
    assert bay_server.containers(sandbox_id=sandbox_id) == []
    assert bay_server.volumes(cargo_id=cargo_id) == [f"bay-cargo-{cargo_id}"]

    first = await call(
        client,
        "python_exec",
        sandbox_id=sandbox_id,
        code="open('kept.txt', 'w').write('written before the stop')\nprint('ok')",
    )
    assert "ok" in text_of(first)
    running = bay_server.containers(sandbox_id=sandbox_id)
    assert len(running) == 1
    labels = docker("inspect", "--format", "{{json .Config.Labels}}", running[0])
    for key in ("instance_id", "owner", "sandbox_id", "session_id", "cargo_id", "profile_id"):
        assert f'"bay.{key}"' in labels
    assert '"bay.managed":"true"' in labels
    published = docker("port", running[0], "8123")
    assert published.startswith("127.0.0.1:"), published

    stopped = await call(client, "stop_sandbox", sandbox_id=sandbox_id)
    assert stopped.structured_content is not None
    assert stopped.structured_content["status"] == "stopped"
    assert bay_server.containers(sandbox_id=sandbox_id) == []
    assert bay_server.volumes(cargo_id=cargo_id) == [f"bay-cargo-{cargo_id}"]

    again = await call(
        client, "python_exec", sandbox_id=sandbox_id, code="print(open('kept.txt').read())"
    )
    assert "written before the stop" in text_of(again)

    await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    assert bay_server.containers(sandbox_id=sandbox_id) == []
    assert bay_server.volumes(cargo_id=cargo_id) == []
    for tool, arguments in [
        ("python_exec", {"code": "1"}),
        ("get_sandbox", {}),
        ("read_file", {"path": "kept.txt"}),
        ("delete_sandbox", {}),
    ]:
        error = await call_error(client, tool, sandbox_id=sandbox_id, **arguments)
        assert sandbox_id in error
        assert "create_sandbox" in error


async def test_stop_is_idempotent_and_get_shows_the_container(client: Client) -> None:
    sandbox_id = await new_sandbox(client)
    await call(client, "stop_sandbox", sandbox_id=sandbox_id)
    await call(client, "python_exec", sandbox_id=sandbox_id, code="1")
    shown = await call(client, "get_sandbox", sandbox_id=sandbox_id)
    assert shown.structured_content is not None
    assert shown.structured_content["status"] == "ready"
    assert shown.structured_content["containers"][0]["healthy"] is True
    await call(client, "stop_sandbox", sandbox_id=sandbox_id)
    await call(client, "stop_sandbox", sandbox_id=sandbox_id)
    listed = await call(client, "list_sandboxes", status="idle")
    assert listed.structured_content is not None
    assert sandbox_id in [s["id"] for s in listed.structured_content["sandboxes"]]
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_ten_concurrent_calls_start_one_container(
    client: Client, bay_server: BayServer
) -> None:
    sandbox_id = await new_sandbox(client)
    results = await asyncio.gather(
        *(
            client.call_tool("python_exec", {"sandbox_id": sandbox_id, "code": f"print({i})"})
            for i in range(10)
        )
    )
    assert [r.is_error for r in results] == [False] * 10
    assert sorted(int(text_of(r).strip()) for r in results) == list(range(10))
    assert len(bay_server.containers(sandbox_id=sandbox_id)) == 1
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_a_killed_container_is_replaced_and_files_survive(
    client: Client, bay_server: BayServer
) -> None:
    sandbox_id = await new_sandbox(client)
    await call(client, "write_file", sandbox_id=sandbox_id, path="data/x.txt", content="intact")
    await call(client, "python_exec", sandbox_id=sandbox_id, code="state = 1")
    [container] = bay_server.containers(sandbox_id=sandbox_id)
    docker("rm", "-f", container)

    after = await call(
        client, "python_exec", sandbox_id=sandbox_id, code="print(open('data/x.txt').read())"
    )
    assert "intact" in text_of(after)
    [replacement] = bay_server.containers(sandbox_id=sandbox_id)
    assert replacement != container
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_unknown_sandbox_and_profile_are_clear_errors(client: Client) -> None:
    error = await call_error(client, "python_exec", sandbox_id="sandbox-000000000000", code="1")
    assert "sandbox-000000000000 not found" in error
    assert "list_sandboxes" in error
    error = await call_error(client, "create_sandbox", profile="no-such-profile")
    assert "python-default" in error


async def test_missing_capability_is_a_tool_error_and_starts_nothing(
    client: Client, bay_server: BayServer
) -> None:
    sandbox_id = await new_sandbox(client, profile="python-only")
    error = await call_error(client, "shell_exec", sandbox_id=sandbox_id, command="id")
    assert "shell" in error
    assert "python" in error
    assert bay_server.containers(sandbox_id=sandbox_id) == []
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_ttl_can_be_extended_only_when_set(client: Client) -> None:
    forever = await new_sandbox(client)
    error = await call_error(client, "extend_sandbox_ttl", sandbox_id=forever, seconds=60)
    assert "no TTL" in error
    timed = await new_sandbox(client, ttl_seconds=600)
    extended = await call(client, "extend_sandbox_ttl", sandbox_id=timed, seconds=600)
    assert extended.structured_content is not None
    assert extended.structured_content["expires_at"] is not None
    profiles = await call(client, "list_profiles")
    assert profiles.structured_content is not None
    assert {p["id"] for p in profiles.structured_content["profiles"]} == {
        "python-default",
        "python-only",
    }
    for sandbox_id in (forever, timed):
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)


async def test_nothing_is_left_behind(client: Client, bay_server: BayServer) -> None:
    """Runs last in this module: every sandbox above was deleted."""
    assert bay_server.leftovers() == []
