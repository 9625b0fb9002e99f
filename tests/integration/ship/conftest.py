"""A real Ship container on a named volume, reached over published loopback HTTP."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.conftest import IMAGE, TEST_LABEL, docker

READY_TIMEOUT_S = 60.0


@dataclass
class ShipContainer:
    id: str
    url: str
    token: str
    volume: str

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=120,
            **kwargs,  # type: ignore[arg-type]
        )

    def exec_outside(self, *command: str, check: bool = True) -> str:
        """Run a command in the container as root, bypassing Ship: the ground truth."""
        return docker("exec", self.id, *command, check=check)


def create_volume() -> str:
    name = f"bay-test-{secrets.token_hex(6)}"
    docker("volume", "create", "--label", TEST_LABEL, name)
    return name


def start_ship(volume: str) -> ShipContainer:
    token = secrets.token_urlsafe(24)
    container_id = docker(
        "run", "-d", "--label", TEST_LABEL,
        "-e", f"SHIP_TOKEN={token}",
        "-v", f"{volume}:/workspace",
        "-p", "127.0.0.1::8123",
        IMAGE,
    )  # fmt: skip
    try:
        port = docker("port", container_id, "8123").splitlines()[0].rsplit(":", 1)[1]
        ship = ShipContainer(container_id, f"http://127.0.0.1:{port}", token, volume)
        wait_healthy(ship)
    except BaseException:
        docker("rm", "-f", container_id, check=False)
        raise
    return ship


def wait_healthy(ship: ShipContainer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{ship.url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            logs = docker("logs", "--tail", "30", ship.id, check=False)
            raise TimeoutError(f"Ship did not answer /health in {READY_TIMEOUT_S} s:\n{logs}")
        time.sleep(0.05)


def remove(ship: ShipContainer) -> None:
    docker("rm", "-f", ship.id, check=False)


@pytest.fixture(scope="module")
def volume() -> Iterator[str]:
    name = create_volume()
    yield name
    docker("volume", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def ship(volume: str) -> Iterator[ShipContainer]:
    container = start_ship(volume)
    yield container
    remove(container)


@pytest.fixture(scope="module")
def client(ship: ShipContainer) -> Iterator[httpx.Client]:
    with ship.client() as http:
        yield http
