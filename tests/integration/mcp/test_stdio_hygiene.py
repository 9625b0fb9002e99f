"""In stdio mode the server's stdout carries MCP frames and nothing else."""

from __future__ import annotations

import json

import pytest

from tests.integration.mcp.conftest import BayServer, call, connected, new_sandbox

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
