"""A real `bay-mcp serve --transport http` on a free loopback port, with API keys.

One server per test module: its own data directory and Bay instance id, so every
container and volume it makes can be found (and is removed at the end).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.databases import server_database_env
from tests.integration.conftest import BayResources

BAY_MCP = str(Path(sys.executable).parent / "bay-mcp")
READY_TIMEOUT_S = 30.0
PROFILES = [
    {"id": "python-default", "warm_pool_size": 0},
    {"id": "python-only", "capabilities": ["python"]},
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class HttpBay(BayResources):
    url: str
    instance_id: str
    data_dir: Path
    keys: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def client(self, owner: str | None = None, **headers: str) -> httpx.Client:
        """An HTTP client acting as `owner` (by its key), or anonymous when None."""
        all_headers = dict(headers)
        if owner is not None:
            all_headers["Authorization"] = f"Bearer {self.keys[owner]}"
        return httpx.Client(base_url=self.url, headers=all_headers, timeout=120)


def environment(data_dir: Path, instance_id: str, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(data_dir),
        "BAY_DATA_DIR": str(data_dir),
        "BAY_INSTANCE_ID": instance_id,
        "BAY_AUTO_BUILD_IMAGE": "false",
        "BAY_PROFILES": json.dumps(
            # No warm pool: these tests count containers (test_pool.py turns it on).
            [
                {"id": "python-default", "warm_pool_size": 0},
                {"id": "python-only", "capabilities": ["python"]},
            ]
        ),
        **server_database_env(data_dir),
        **extra,
    }
    # PYTHONPATH: a checkout other than the installed one (a git worktree) serves its own code.
    for name in ("DOCKER_HOST", "PYTHONPATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def create_key(env: dict[str, str], owner: str, *args: str) -> str:
    made = subprocess.run(
        [BAY_MCP, "keys", "create", "--owner", owner, *args],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return made.stdout.strip()


# Every server process a test starts: none may outlive the session.
_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(scope="session", autouse=True)
def no_server_outlives_the_tests() -> Iterator[None]:
    yield
    leaked = [process for process in _STARTED if process.poll() is None]
    for process in leaked:
        process.kill()
        process.wait(timeout=30)
    assert not leaked, f"{len(leaked)} bay-mcp server(s) left running by the tests (killed now)"


def start_server(
    data_dir: Path, instance_id: str, *, owners: tuple[str, ...] = (), host: str = "127.0.0.1",
    env: dict[str, str] | None = None, **extra_env: str,
) -> HttpBay:  # fmt: skip
    env = environment(data_dir, instance_id, **(env or {}), **extra_env)
    keys = {owner: create_key(env, owner) for owner in owners}
    port = free_port()
    with (data_dir / "server.log").open("wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            [BAY_MCP, "serve", "--transport", "http", "--host", host, "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    _STARTED.append(process)
    server = HttpBay(f"http://127.0.0.1:{port}", instance_id, data_dir, keys, process)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            output = (data_dir / "server.log").read_text()
            raise RuntimeError(f"the server exited ({process.returncode}):\n{output}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"the server did not answer /health in {READY_TIMEOUT_S} s")
        time.sleep(0.05)


def stop_server(server: HttpBay) -> None:
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
    server.remove_all()


@contextmanager
def running_server(owners: tuple[str, ...], **env: str) -> Iterator[HttpBay]:
    """A server of its own (data directory, instance id) for the duration of a block."""
    data_dir = Path(tempfile.mkdtemp(prefix="bay-http-"))
    server = start_server(data_dir, f"bay-test-{secrets.token_hex(4)}", owners=owners, env=env)
    try:
        yield server
    finally:
        stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def bay_http() -> Iterator[HttpBay]:
    """Keys for owners alice, bob and admin; anonymous access off."""
    with running_server(("alice", "bob", "admin"), BAY_ALLOW_ANONYMOUS="false") as server:
        yield server


@pytest.fixture(scope="module")
def alice(bay_http: HttpBay) -> Iterator[httpx.Client]:
    with bay_http.client("alice") as client:
        yield client


@pytest.fixture(scope="module")
def bob(bay_http: HttpBay) -> Iterator[httpx.Client]:
    with bay_http.client("bob") as client:
        yield client


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    """Assert the contract's error shape, status and code; return the error."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, object] = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert isinstance(error["details"], dict)
    return error


def wait_for_file(client: httpx.Client, sandbox_id: str, path: str, timeout: float = 60) -> None:
    """Wait until code running in the sandbox has written `path` (how a test knows a
    call it started from another thread has reached the sandbox)."""
    deadline = time.monotonic() + timeout
    url = f"/v1/sandboxes/{sandbox_id}/filesystem/files"
    while client.get(url, params={"path": path}).status_code != 200:
        assert time.monotonic() < deadline, f"{path} never appeared in {sandbox_id}"
        time.sleep(0.05)


def key_headers(server: HttpBay, owner: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.keys[owner]}"}


@asynccontextmanager
async def mcp_http(server: HttpBay, owner: str) -> AsyncIterator[Client]:
    async with mcp_http_as(server, key_headers(server, owner)) as client:
        yield client


@asynccontextmanager
async def mcp_sse(server: HttpBay, owner: str) -> AsyncIterator[Client]:
    async with mcp_sse_as(server, key_headers(server, owner)) as client:
        yield client


@asynccontextmanager
async def mcp_http_as(server: HttpBay, headers: dict[str, str]) -> AsyncIterator[Client]:
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client,
    ):
        yield client


@asynccontextmanager
async def mcp_sse_as(server: HttpBay, headers: dict[str, str]) -> AsyncIterator[Client]:
    async with Client(sse_client(f"{server.url}/sse", headers=headers)) as client:
        yield client


def text_of(result: object) -> str:
    return "\n".join(getattr(b, "text", "") for b in getattr(result, "content", []))
