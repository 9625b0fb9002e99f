"""Bay as a deployed service: the Bay image (bay-mcp:latest) run with the engine's
socket, on a Docker network of its own that its Ship containers join, its port
published on 127.0.0.1, and driven from the host over MCP (streamable HTTP) and REST.

The container, its network and data volume, and every container and volume its Bay
made (label `bay.instance_id`) are removed at the end, pass or fail.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mcp.types import TextResourceContents

from bay_mcp.managers.image_build import BAY_TAG
from tests.integration.conftest import TEST_LABEL, docker
from tests.integration.http.conftest import HttpBay, error_of, mcp_http
from tests.integration.mcp.conftest import call, new_sandbox, text_of

OWNER = "default"  # BAY_API_KEY acts as BAY_API_KEY_OWNER, whose default this is
PORT = 8000
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30


def engine_socket() -> Path:
    """The engine's Unix socket on this host (DOCKER_HOST, or Docker's default)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        pytest.fail(f"these tests mount the engine's Unix socket; DOCKER_HOST is {host}")
    return Path(host.removeprefix("unix://"))


@dataclass
class Deployment:
    """One Bay container and what it runs on: a network and a data volume."""

    server: HttpBay
    container: str
    network: str
    volume: str
    key: str

    def run(self) -> None:
        """Start a Bay container on the network and volume; wait until it is healthy."""
        socket = engine_socket()
        docker(
            "run", "--detach", "--name", self.container, "--label", TEST_LABEL,
            "--network", self.network, "--publish", f"127.0.0.1::{PORT}",
            "--volume", f"{socket}:/var/run/docker.sock",
            "--group-add", str(socket.stat().st_gid),
            "--volume", f"{self.volume}:/data",
            "--env", f"BAY_API_KEY={self.key}",
            "--env", f"BAY_INSTANCE_ID={self.server.instance_id}",
            "--env", f"BAY_DOCKER_NETWORK={self.network}",
            BAY_TAG,
        )  # fmt: skip
        published = docker("port", self.container, f"{PORT}/tcp").splitlines()
        address = next(line for line in published if line.startswith("127.0.0.1:"))
        self.server.url = f"http://{address}"
        self.wait_until_healthy()

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            state = self.inspect("{{.State.Status}}")
            if state != "running":
                pytest.fail(f"the Bay container is {state}:\n{self.logs()}", pytrace=False)
            try:
                if httpx.get(f"{self.server.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Bay did not answer /health in {READY_TIMEOUT_S} s:\n{self.logs()}",
                    pytrace=False,
                )
            time.sleep(0.1)

    def inspect(self, template: str) -> str:
        return docker("inspect", "--format", template, self.container)

    def logs(self) -> str:
        """Bay's log (it writes to stderr, which `docker logs` passes on as its own)."""
        shown = subprocess.run(
            ["docker", "logs", "--tail", "80", self.container],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return shown.stdout + shown.stderr

    def stop(self) -> int:
        """Stop Bay as `docker stop` does (SIGTERM, then SIGKILL); its exit code."""
        docker("stop", "--time", str(STOP_TIMEOUT_S), self.container, timeout=STOP_TIMEOUT_S + 30)
        return int(self.inspect("{{.State.ExitCode}}"))

    def remove(self) -> None:
        docker("rm", "--force", self.container, check=False)

    def ship_networks(self, sandbox_id: str) -> list[str]:
        [container] = self.server.containers(sandbox_id=sandbox_id)
        networks = docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", container)
        return sorted(json.loads(networks))


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    try:
        docker("image", "inspect", BAY_TAG, timeout=20)
    except RuntimeError:
        pytest.fail(
            f"the image {BAY_TAG} is missing: build it with scripts/ensure-image "
            "(or `bay-mcp image build --offline --bay`)",
            pytrace=False,
        )
    suffix = secrets.token_hex(4)
    # Bay's data directory is /data in its container (the volume), never on this host.
    server = HttpBay(
        "", f"bay-image-test-{suffix}", Path("/data"), {OWNER: secrets.token_urlsafe(32)}
    )
    deployed = Deployment(
        server,
        container=f"bay-image-test-{suffix}",
        network=f"bay-image-test-net-{suffix}",
        volume=f"bay-image-test-data-{suffix}",
        key=server.keys[OWNER],
    )
    try:
        docker("network", "create", "--label", TEST_LABEL, deployed.network)
        docker("volume", "create", "--label", TEST_LABEL, deployed.volume)
        deployed.run()
        yield deployed
    finally:
        print(f"Bay's log:\n{deployed.logs()}")  # shown when a test of the module failed
        deployed.remove()
        server.remove_all()  # its sandboxes' containers and volumes, once Bay is gone
        docker("volume", "rm", "--force", deployed.volume, check=False)
        docker("network", "rm", deployed.network, check=False)


@pytest.fixture(scope="module")
def rest(deployment: Deployment) -> Iterator[httpx.Client]:
    with deployment.server.client(OWNER) as client:
        yield client


def test_bay_runs_unprivileged_healthy_and_behind_its_key(deployment: Deployment) -> None:
    with deployment.server.client() as anonymous:
        health = anonymous.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "healthy"
        assert body["checks"]["database"] == "ok (sqlite)"
        assert body["checks"]["driver"].startswith("ok (docker ")
        error_of(anonymous.get("/v1/sandboxes"), 401, "unauthorized")
    with deployment.server.client(Authorization="Bearer not-the-key") as wrong:
        error_of(wrong.get("/v1/sandboxes"), 401, "unauthorized")
    assert docker("exec", deployment.container, "id", "-un") == "bay"
    # The image's own HEALTHCHECK, run now rather than at its first interval.
    check = json.loads(deployment.inspect("{{json .Config.Healthcheck.Test}}"))
    assert check[0] == "CMD"
    docker("exec", deployment.container, *check[1:])
    assert "bay.db" in docker("exec", deployment.container, "ls", "/data").split()


async def test_every_kind_of_mcp_tool_over_the_published_port(deployment: Deployment) -> None:
    async with mcp_http(deployment.server, OWNER) as client:
        sandbox_id = await new_sandbox(client)
        first = await call(client, "python_exec", sandbox_id=sandbox_id, code="kept = 6 * 7\nkept")
        assert "42" in text_of(first)
        second = await call(client, "python_exec", sandbox_id=sandbox_id, code="print(kept + 1)")
        assert "43" in text_of(second)
        # Bay reaches its Ship container by address on the network both joined.
        assert deployment.ship_networks(sandbox_id) == [deployment.network]

        shell = await call(client, "shell_exec", sandbox_id=sandbox_id, command="pwd; whoami")
        assert text_of(shell).split()[:2] == ["/workspace", "shipyard"]
        written = await call(
            client, "write_file", sandbox_id=sandbox_id, path="notes/hi.md", content="# Hi\n"
        )
        assert written.structured_content == {"path": "notes/hi.md", "size": 5}
        read = await call(client, "read_file", sandbox_id=sandbox_id, path="notes/hi.md")
        assert text_of(read) == "# Hi\n"
        listing = await call(client, "list_files", sandbox_id=sandbox_id, path="notes")
        assert listing.structured_content is not None
        entries = listing.structured_content["entries"]
        assert [(entry["name"], entry["type"]) for entry in entries] == [("hi.md", "file")]
        [resource] = (await client.read_resource(f"cargo://{sandbox_id}/notes/hi.md")).contents
        assert isinstance(resource, TextResourceContents)
        assert resource.text == "# Hi\n"

        await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    assert deployment.server.containers(sandbox_id=sandbox_id) == []
    assert deployment.server.volumes(sandbox_id=sandbox_id) == []


def test_every_kind_of_rest_call_over_the_published_port(
    deployment: Deployment, rest: httpx.Client
) -> None:
    made = rest.post("/v1/sandboxes", json={})
    assert made.status_code == 201, made.text
    sandbox_id = made.json()["id"]
    base = f"/v1/sandboxes/{sandbox_id}"

    ran = rest.post(f"{base}/python/exec", json={"code": "open('answer', 'w').write('42')"})
    assert ran.json()["success"], ran.text
    shell = rest.post(f"{base}/shell/exec", json={"command": "cat answer; echo; whoami"})
    assert (shell.json()["exit_code"], shell.json()["output"].split()) == (0, ["42", "shipyard"])

    payload = secrets.token_bytes(300_000)
    uploaded = rest.post(
        f"{base}/filesystem/upload", files={"file": ("b.bin", payload)}, data={"path": "in/b.bin"}
    )
    assert uploaded.json() == {"status": "ok", "path": "in/b.bin", "size": len(payload)}
    downloaded = rest.get(f"{base}/filesystem/download", params={"path": "in/b.bin"})
    assert downloaded.status_code == 200
    assert downloaded.content == payload

    assert sandbox_id in [item["id"] for item in rest.get("/v1/sandboxes").json()["items"]]
    assert rest.delete(base).status_code == 204
    error_of(rest.get(base), 404, "not_found")
    assert deployment.server.containers(sandbox_id=sandbox_id) == []
    assert deployment.server.volumes(sandbox_id=sandbox_id) == []


def test_files_outlive_a_stopped_sandbox_and_a_replaced_bay_container(
    deployment: Deployment, rest: httpx.Client
) -> None:
    sandbox_id = rest.post("/v1/sandboxes", json={}).json()["id"]
    base = f"/v1/sandboxes/{sandbox_id}"
    put = rest.put(f"{base}/filesystem/files", json={"path": "kept.txt", "content": "still here"})
    assert put.json() == {"status": "ok"}
    assert rest.post(f"{base}/stop").json() == {"status": "stopped"}
    assert deployment.server.containers(sandbox_id=sandbox_id) == []

    # A graceful stop (tini hands Bay the SIGTERM; uvicorn re-raises it once shut down:
    # 128 + 15, where a kill at the timeout is 137), then a new container on the same
    # data volume, as an upgrade does: the sandbox and its files are still there.
    assert deployment.stop() == 143
    assert "Application shutdown complete." in deployment.logs()
    deployment.remove()
    deployment.run()
    with deployment.server.client(OWNER) as client:
        assert client.get(base).json()["id"] == sandbox_id
        read = client.get(f"{base}/filesystem/files", params={"path": "kept.txt"})
        assert read.json() == {"content": "still here"}
        assert len(deployment.server.containers(sandbox_id=sandbox_id)) == 1
        assert client.delete(base).status_code == 204
