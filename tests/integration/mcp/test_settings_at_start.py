"""Settings as `bay-mcp` reads them at start, the real command: an unknown key in the
config file stops it before it serves anything, with one paragraph on stderr and
nothing on stdout (the MCP wire); an unknown BAY_* variable is a warning and the
server answers."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.mcp.conftest import BAY_MCP, BayServer, stdio_server

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


def environment(server: BayServer, **extra: str) -> dict[str, str]:
    """The test server's environment (its data directory, database, no image build)."""
    env = server.params().env
    assert env is not None
    return {**env, **extra}


@pytest.mark.parametrize("command", [[], ["serve", "--transport", "http", "--port", "0"]])
def test_an_unknown_profile_key_stops_the_start(tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "bay.toml"
    config.write_text('[[profiles]]\nid = "tiny"\nidle_timout_seconds = 60\n')
    with stdio_server() as server:
        env = environment(server, BAY_CONFIG_FILE=str(config))
        env.pop("BAY_PROFILES")  # the file's profiles, not the test server's
        ended = subprocess.run(
            [BAY_MCP, *command], env=env, capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert ended.returncode == 2, ended.stderr
    assert ended.stdout == ""
    assert ended.stderr.startswith(
        f"bay-mcp: invalid settings: {config} (BAY_CONFIG_FILE), profile 'tiny' (profiles[0]): "
        "unknown key 'idle_timout_seconds' (did you mean 'idle_timeout_seconds'?); "
        "accepted there: id, image,"
    ), ended.stderr
    assert ended.stderr.count("\n") == 1, ended.stderr  # one paragraph, no traceback


async def test_an_unknown_variable_is_a_warning_and_the_server_answers() -> None:
    with stdio_server() as server:
        env = environment(server, BAY_OUTPUT_LIMIT_CHAR="5000")
        process = await asyncio.create_subprocess_exec(
            BAY_MCP,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        answer = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        process.stdin.close()  # the host goes away: the server ends
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert answer["id"] == 1
    assert "serverInfo" in answer["result"]
    assert process.returncode == 0, stderr.decode()
    assert (
        "the environment variable BAY_OUTPUT_LIMIT_CHAR names no setting, ignored; "
        "did you mean BAY_OUTPUT_LIMIT_CHARS?"
    ) in stderr.decode()
