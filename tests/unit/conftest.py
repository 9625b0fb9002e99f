"""Bay with a fake driver and a fake Ship: services and surfaces tested without Docker."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bay_mcp.bay import Bay
from bay_mcp.drivers import ContainerInfo, ContainerSpec
from bay_mcp.settings import BaySettings, Profile
from bay_mcp.ship_client import ShipClient, ShipEndpoint
from bay_mcp.storage.database import Database

GOOD_META: dict[str, Any] = {
    "runtime": {"name": "ship", "version": "0.1.0"},
    "api_version": "2",
    "workspace": {"mount_path": "/workspace"},
    "capabilities": {"python": {}, "shell": {}, "filesystem": {}},
}


@dataclass
class BytesUpload:
    """An upload whose bytes are in memory and whose path is known first."""

    path: str | None
    data: bytes
    declared_size: int | None = None
    later_path: str = ""

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.data

    async def path_after(self) -> str:
        return self.later_path


@dataclass
class FakeContainer:
    spec: ContainerSpec
    info: ContainerInfo


@dataclass
class FakeDriver:
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    started: int = 0
    fail_next_run: Exception | None = None
    images: set[str] = field(default_factory=lambda: {"ship:latest"})
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def ping(self) -> str:
        return "fake"

    async def image_exists(self, image: str) -> bool:
        return image in self.images

    async def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.volumes[name] = labels

    async def remove_volume(self, name: str) -> None:
        self.volumes.pop(name, None)

    async def volume_created_at(self, name: str) -> datetime | None:
        return None if name not in self.volumes else datetime(2000, 1, 1, tzinfo=UTC)

    async def volume_exists(self, name: str) -> bool:
        return name in self.volumes

    async def list_volumes(self, labels: dict[str, str]) -> list[str]:
        return [n for n, v in self.volumes.items() if labels.items() <= v.items()]

    async def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        await asyncio.sleep(0.01)  # let concurrent callers interleave
        if self.fail_next_run is not None:
            error, self.fail_next_run = self.fail_next_run, None
            raise error
        number = next(self._ids)
        info = ContainerInfo(
            id=f"c{number}",
            name=spec.name,
            state="running",
            labels=spec.labels,
            endpoint=f"http://fake-{number}:8123",
        )
        self.containers[info.id] = FakeContainer(spec, info)
        self.started += 1
        return info

    async def inspect(self, container_id: str) -> ContainerInfo:
        container = self.containers.get(container_id)
        if container is None:
            return ContainerInfo(id=container_id, name="", state="missing")
        return container.info

    async def remove_container(self, container_id: str) -> None:
        self.containers.pop(container_id, None)

    async def logs(self, container_id: str, tail: int = 50) -> str:
        return "fake log line"

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return [c.info for c in self.containers.values() if labels.items() <= c.info.labels.items()]

    async def close(self) -> None:
        return None

    def kill(self, container_id: str) -> None:
        """The container vanishes behind Bay's back (docker rm -f, engine restart)."""
        del self.containers[container_id]


class FakeShip(ShipClient):
    """Answers like Ship, from memory; one file store per endpoint."""

    def __init__(self) -> None:
        self.meta_answer: dict[str, Any] = dict(GOOD_META)
        self.files: dict[str, dict[str, str]] = {}
        self.python_answer: dict[str, Any] | None = None
        self.shell_answer: dict[str, Any] | None = None
        self.block_python: asyncio.Event | None = None
        self.python_started = asyncio.Event()
        self.interrupts = 0
        self.shell_cancels: list[str] = []
        self.calls: list[str] = []

    async def close(self) -> None:
        return None

    async def healthy(self, endpoint: ShipEndpoint) -> bool:
        return True

    async def meta(self, endpoint: ShipEndpoint) -> dict[str, Any]:
        return self.meta_answer

    async def python_exec(
        self, endpoint: ShipEndpoint, code: str, timeout: float
    ) -> dict[str, Any]:
        self.calls.append(code)
        self.python_started.set()
        if self.block_python is not None:
            await self.block_python.wait()
        return self.python_answer or {
            "success": True,
            "output": f"ran {code}\n",
            "error": None,
            "execution_count": len(self.calls),
            "images": [],
            "truncated": False,
            "timed_out": False,
            "kernel_restarted": False,
            "execution_time_ms": 1,
        }

    async def python_interrupt(self, endpoint: ShipEndpoint) -> bool:
        self.interrupts += 1
        return True

    async def shell_exec(
        self, endpoint: ShipEndpoint, command: str, timeout: float, cwd: str, exec_id: str
    ) -> dict[str, Any]:
        self.calls.append(command)
        return self.shell_answer or {
            "success": True,
            "exit_code": 0,
            "output": f"{cwd}$ {command}\n",
            "truncated": False,
            "timed_out": False,
            "execution_time_ms": 1,
        }

    async def shell_cancel(self, endpoint: ShipEndpoint, exec_id: str) -> bool:
        self.shell_cancels.append(exec_id)
        return True

    def _store(self, endpoint: ShipEndpoint) -> dict[str, str]:
        return self.files.setdefault(endpoint.url, {})

    async def read_file(
        self, endpoint: ShipEndpoint, path: str, offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        from bay_mcp.errors import FileNotFound

        content = self._store(endpoint).get(path)
        if content is None:
            raise FileNotFound(f"no such file in /workspace: {path}")
        return {
            "path": path,
            "content": content,
            "size": len(content),
            "total_lines": content.count("\n"),
            "truncated": False,
        }

    async def write_file(self, endpoint: ShipEndpoint, path: str, content: str) -> dict[str, Any]:
        self._store(endpoint)[path] = content
        return {"path": path, "size": len(content.encode())}


@pytest.fixture
def driver() -> FakeDriver:
    return FakeDriver()


@pytest.fixture
def ship() -> FakeShip:
    return FakeShip()


@pytest.fixture
def settings(tmp_path: Path) -> BaySettings:
    return BaySettings(
        data_dir=tmp_path,
        instance_id="bay-unit",
        auto_build_image=False,
        profiles=[Profile(id="python-default"), Profile(id="python-only", capabilities=["python"])],
    )


@pytest_asyncio.fixture
async def bay(
    settings: BaySettings, driver: FakeDriver, ship: FakeShip, tmp_path: Path
) -> AsyncIterator[Bay]:
    instance = Bay(settings, driver=driver, ship=ship, database=Database(tmp_path / "bay.db"))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()
