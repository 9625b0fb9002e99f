"""The real `bay-mcp` over stdio, driven by the MCP SDK's own client.

Each test module gets its own server process, data directory and Bay instance id; at
the end every container and volume labelled with that instance id is removed (and
the tests that care assert there was nothing left to remove).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult

from tests.databases import server_database_env
from tests.integration.conftest import BayResources

BAY_MCP = str(Path(sys.executable).parent / "bay-mcp")
PROFILES: list[dict[str, Any]] = [
    {"id": "python-default"},
    {"id": "python-only", "capabilities": ["python"]},
]


@dataclass
class BayServer(BayResources):
    instance_id: str
    data_dir: Path
    stdout_log: Path
    profiles: list[dict[str, Any]] = field(default_factory=lambda: list(PROFILES))

    @property
    def stderr_log(self) -> Path:
        return self.data_dir / "stderr.log"

    def params(self) -> StdioServerParameters:
        env = {
            "PATH": os.environ["PATH"],
            "BAY_DATA_DIR": str(self.data_dir),
            "BAY_INSTANCE_ID": self.instance_id,
            "BAY_PROFILES": json.dumps(self.profiles),
            "BAY_AUTO_BUILD_IMAGE": "false",
            **server_database_env(self.data_dir),
        }
        # DOCKER_HOST: the engine the tests use; PYTHONPATH: the code under test when it
        # is a worktree's, not the virtualenv's editable install.
        for name in ("DOCKER_HOST", "PYTHONPATH"):
            if name in os.environ:
                env[name] = os.environ[name]
        # tee keeps a copy of every byte the server writes to stdout, to check later
        # that nothing but JSON-RPC frames went there; stderr (its log) is kept too.
        command = f'exec "{BAY_MCP}" 2> >(tee -a "{self.stderr_log}" >&2) | tee "{self.stdout_log}"'
        return StdioServerParameters(command="bash", args=["-c", command], env=env)


@contextmanager
def stdio_server(profiles: list[dict[str, Any]] = PROFILES) -> Iterator[BayServer]:
    """A server's settings and data directory; everything it made is removed after."""
    data_dir = Path(tempfile.mkdtemp(prefix="bay-test-"))
    server = BayServer(
        instance_id=f"bay-test-{secrets.token_hex(4)}",
        data_dir=data_dir,
        stdout_log=data_dir / "stdout.log",
        profiles=list(profiles),
    )
    try:
        yield server
    finally:
        server.remove_all()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def bay_server() -> Iterator[BayServer]:
    with stdio_server() as server:
        yield server


@asynccontextmanager
async def connected(server: BayServer) -> AsyncIterator[Client]:
    """A client whose connection lives in a task of its own.

    The SDK's client holds anyio cancel scopes that must be exited by the task that
    entered them, while pytest-asyncio tears fixtures down in another task.
    """
    ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    async def hold() -> None:
        try:
            async with Client(server.params(), read_timeout_seconds=180) as client:
                ready.set_result(client)
                await done.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    holder = asyncio.create_task(hold())
    try:
        yield await ready
    finally:
        done.set()
        await holder


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(bay_server: BayServer) -> AsyncIterator[Client]:
    async with connected(bay_server) as session:
        yield session


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    """Call a tool that must succeed; fail with its text otherwise."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    return result


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail with a tool error; return the error text."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should have failed, gave: {text_of(result)}"
    return text_of(result)


async def new_sandbox(client: Client, **arguments: Any) -> str:
    result = await call(client, "create_sandbox", **arguments)
    assert result.structured_content is not None
    sandbox_id: str = result.structured_content["id"]
    return sandbox_id
