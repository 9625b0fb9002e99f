"""In stdio mode the server's stdout carries MCP frames and nothing else."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time

import pytest

from tests.integration.mcp.conftest import (
    BAY_MCP,
    BayServer,
    call,
    connected,
    new_sandbox,
    stdio_server,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_every_stdout_line_is_a_json_rpc_message(bay_server: BayServer) -> None:
    async with connected(bay_server) as client:
        sandbox_id = await new_sandbox(client)
        # Code that prints, warns, and fails: none of it may reach the server's stdout.
        await call(
            client,
            "python_exec",
            sandbox_id=sandbox_id,
            code="import warnings\nprint('to stdout')\nwarnings.warn('careful')\nimport sys\n"
            "print('to stderr', file=sys.stderr)",
        )
        await call(client, "shell_exec", sandbox_id=sandbox_id, command="echo hi; echo err >&2")
        await client.call_tool("read_file", {"sandbox_id": sandbox_id, "path": "../nope"})
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    lines = bay_server.stdout_log.read_text().splitlines()
    assert len(lines) >= 6
    for line in lines:
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0", line
    assert bay_server.leftovers() == []


async def test_a_message_of_megabytes_crosses_the_wire(bay_server: BayServer) -> None:
    # One JSON-RPC line of ~3 MB each way.
    async with connected(bay_server) as client:
        sandbox_id = await new_sandbox(client)
        content = "0123456789abcdef" * (3 * 1024 * 1024 // 16)
        await call(client, "write_file", sandbox_id=sandbox_id, path="big.txt", content=content)
        result = await call(
            client,
            "python_exec",
            sandbox_id=sandbox_id,
            code="data = open('/workspace/big.txt').read()\nprint(len(data), data == "
            f"{content[:32]!r} * {len(content) // 32})",
        )
        assert result.structured_content is not None
        assert result.structured_content["output"] == f"{len(content)} True\n"
        await call(client, "delete_sandbox", sandbox_id=sandbox_id)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


async def spawned(server: BayServer) -> asyncio.subprocess.Process:
    """`bay-mcp` over stdio as a host starts it, its pipes in the test's hands."""
    with server.stderr_log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            BAY_MCP,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=server.params().env,
        )


async def test_sigterm_stops_the_server_and_removes_its_warm_pool() -> None:
    # A host that closes stdin and still sees the server running sends SIGTERM: Bay
    # must stop at once and take its warm pool's container and volume with it.
    with stdio_server([{"id": "python-default", "warm_pool_size": 1}]) as server:
        process = await spawned(server)
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        answer = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        assert answer["id"] == 1
        deadline = time.monotonic() + 120
        while not server.containers():  # the member's container, starting or ready
            assert time.monotonic() < deadline, "the warm pool never started its member"
            await asyncio.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        assert server.containers() == []
        assert server.volumes() == []


async def test_sigterm_at_any_moment_of_the_pools_first_start_leaves_nothing() -> None:
    # The pool starts its member as soon as Bay has started (what a first tool call
    # awaits): a SIGTERM then may land while Docker makes the member's volume. Bay once
    # left that volume behind (the startup benchmark found one in every three spawns).
    # A call that needs Bay started, then the signal at staggered moments after it.
    listed = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
              "params": {"name": "list_sandboxes", "arguments": {}}}  # fmt: skip
    ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    with stdio_server([{"id": "python-default", "warm_pool_size": 1}]) as server:
        for delay in (0.0, 0.0, 0.02, 0.05, 0.1, 0.2, 0.4):
            process = await spawned(server)
            try:
                assert process.stdin is not None
                assert process.stdout is not None
                for message in (INITIALIZE, ready, listed):
                    process.stdin.write(json.dumps(message).encode() + b"\n")
                for expected in (1, 2):
                    line = await asyncio.wait_for(process.stdout.readline(), 120)
                    assert json.loads(line)["id"] == expected, line
                await asyncio.sleep(delay)  # not a wait for anything: where the signal lands
                process.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(process.wait(), 60) == 0, f"after {delay} s"
            finally:
                if process.returncode is None:  # failed: a Bay left running refills its pool
                    process.kill()
                    await process.wait()
            assert (server.containers(), server.volumes()) == ([], []), f"after {delay} s"


async def test_stdin_from_a_file_is_served_by_the_sdk_streams(bay_server: BayServer) -> None:
    # Not a pipe (a file here; a terminal alike): Bay leaves the wire to the SDK's
    # thread-backed streams, which read it to its end and answer.
    requests = bay_server.data_dir / "requests.jsonl"
    requests.write_text(json.dumps(INITIALIZE) + "\n")
    with requests.open("rb") as stdin:
        done = await asyncio.to_thread(
            subprocess.run,
            [BAY_MCP],
            stdin=stdin,
            capture_output=True,
            env=bay_server.params().env,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    [answer] = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert answer["id"] == 1
    assert answer["result"]["serverInfo"]["name"]
