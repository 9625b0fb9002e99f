"""Fakes of Bay's adapters, for unit tests of the layers above them.

`FakeDriver` keeps containers and volumes in memory; `FakeShip` answers with the
models of Ship's protocol (`ship/protocol.py`), so it cannot drift from the real one.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bay_mcp.adapters.ship_client import (
    Download,
    NeverReached,
    OutputSink,
    ShipClient,
    ShipEndpoint,
    reaching,
)
from bay_mcp.drivers import ContainerInfo, ContainerSpec, DriverError, VolumeCopy
from bay_mcp.errors import FileNotFound, SessionNotReady, ValidationFailed
from ship import protocol


def good_meta() -> protocol.Meta:
    return protocol.Meta(
        runtime=protocol.RuntimeInfo(name="ship", version="0.1.0"),
        api_version=protocol.API_VERSION,
        workspace=protocol.WorkspaceInfo(mount_path=protocol.WORKSPACE_MOUNT),
        capabilities={
            name: protocol.CapabilityInfo() for name in ("python", "shell", "filesystem")
        },
    )


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
    # What each tag names; a test rebuilds an image by changing it.
    image_ids: dict[str, str] = field(default_factory=dict)
    # Bytes each volume holds (a test sets a cargo's); a copy gives the target its source's.
    sizes: dict[str, int] = field(default_factory=dict)
    copies: list[tuple[str, str, bool]] = field(default_factory=list)
    fail_next_copy: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def ping(self) -> str:
        return "fake"

    async def image_id(self, image: str) -> str | None:
        return self.image_ids.get(image, f"sha256:{image}") if image in self.images else None

    async def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.volumes[name] = labels

    async def remove_volume(self, name: str) -> None:
        self.volumes.pop(name, None)

    async def volume_created_at(self, name: str) -> datetime | None:
        return None if name not in self.volumes else datetime(2000, 1, 1, tzinfo=UTC)

    async def list_volumes(self, labels: dict[str, str]) -> list[str]:
        return [n for n, v in self.volumes.items() if labels.items() <= v.items()]

    async def copy_volume(
        self,
        source: str,
        target: str,
        *,
        image: str,
        labels: dict[str, str],
        replace: bool = False,
        timeout: float,
    ) -> VolumeCopy:
        await asyncio.sleep(0.01)
        if source not in self.volumes or target not in self.volumes:
            raise DriverError(f"no such volume: {source if source not in self.volumes else target}")
        if self.fail_next_copy:
            self.fail_next_copy = False
            raise DriverError(f"copying volume {source} to {target} failed (exit 1): disk full")
        self.copies.append((source, target, replace))
        self.sizes[target] = self.sizes.get(source, 0)
        return VolumeCopy(size_bytes=self.sizes[target], seconds=0.01)

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
            image_id=self.image_ids.get(spec.image, f"sha256:{spec.image}"),
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
    """Answers like Ship, from memory; one file store (path -> bytes) per endpoint."""

    def __init__(self, driver: FakeDriver | None = None) -> None:
        # With a driver, a request to a container it no longer has never arrives, and is
        # recovered as the real client recovers it.
        self.driver = driver
        self.meta_answer = good_meta()
        self.files: dict[str, dict[str, bytes]] = {}
        self.python_answer: protocol.PythonExecResult | None = None
        self.shell_answer: protocol.ShellExecResult | None = None
        self.block_python: asyncio.Event | None = None
        self.python_started = asyncio.Event()
        self.interrupts = 0
        self.shell_cancels: list[str] = []
        self.calls: list[str] = []

    async def close(self) -> None:
        return None

    async def healthy(self, endpoint: ShipEndpoint) -> bool:
        return True

    async def meta(self, endpoint: ShipEndpoint) -> protocol.Meta:
        return self.meta_answer

    async def _arrive(self, endpoint: ShipEndpoint) -> ShipEndpoint:
        async def send(to: ShipEndpoint) -> ShipEndpoint:
            if self.driver is not None and not any(
                c.info.endpoint == to.url for c in self.driver.containers.values()
            ):
                raise NeverReached(SessionNotReady("the fake runtime is gone"))
            return to

        return await reaching(endpoint, send)

    async def python_exec(
        self,
        endpoint: ShipEndpoint,
        code: str,
        timeout: float,
        on_output: OutputSink | None = None,
    ) -> protocol.PythonExecResult:
        await self._arrive(endpoint)
        self.calls.append(code)
        self.python_started.set()
        if self.block_python is not None:
            await self.block_python.wait()
        answer = self.python_answer or protocol.PythonExecResult(
            success=True,
            output=f"ran {code}\n",
            execution_count=len(self.calls),
            execution_time_ms=1,
        )
        if on_output is not None and answer.output:  # as Ship streams it: line by line
            for line in answer.output.splitlines(keepends=True):
                on_output(line)
        return answer

    async def python_interrupt(self, endpoint: ShipEndpoint) -> bool:
        self.interrupts += 1
        return True

    async def shell_exec(
        self,
        endpoint: ShipEndpoint,
        command: str,
        timeout: float,
        cwd: str,
        exec_id: str,
        on_output: OutputSink | None = None,
    ) -> protocol.ShellExecResult:
        await self._arrive(endpoint)
        self.calls.append(command)
        answer = self.shell_answer or protocol.ShellExecResult(
            success=True, exit_code=0, output=f"{cwd}$ {command}\n", execution_time_ms=1
        )
        if on_output is not None and answer.output:
            on_output(answer.output)
        return answer

    async def shell_cancel(self, endpoint: ShipEndpoint, exec_id: str) -> bool:
        self.shell_cancels.append(exec_id)
        return True

    def store(self, endpoint: ShipEndpoint) -> dict[str, bytes]:
        return self.files.setdefault(endpoint.url, {})

    def _bytes(self, endpoint: ShipEndpoint, path: str) -> bytes:
        store = self.store(endpoint)
        if path not in store:
            if any(name.startswith(path + "/") for name in store):
                raise ValidationFailed(f"{path} is a directory", {protocol.DIRECTORY_DETAIL: True})
            raise FileNotFound(f"no such file in /workspace: {path}")
        return store[path]

    async def read_file(
        self, endpoint: ShipEndpoint, path: str, offset: int = 0, limit: int | None = None
    ) -> protocol.FileText:
        data = self._bytes(endpoint, path)
        try:
            content = data.decode()
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                f"{path} is not UTF-8 text",
                {protocol.BINARY_DETAIL: True, protocol.SIZE_DETAIL: len(data)},
            ) from exc
        lines = content.splitlines(keepends=True)
        kept = lines[offset : None if limit is None else offset + limit]
        return protocol.FileText(
            path=path,
            content="".join(kept),
            size=len(data),
            total_lines=len(lines),
            truncated=len(kept) < len(lines),
        )

    async def write_file(
        self, endpoint: ShipEndpoint, path: str, content: str
    ) -> protocol.FileWritten:
        self.store(endpoint)[path] = content.encode()
        return protocol.FileWritten(path=path, size=len(content.encode()))

    async def delete_file(self, endpoint: ShipEndpoint, path: str) -> protocol.FileDeleted:
        store = self.store(endpoint)
        gone = [name for name in store if name == path or name.startswith(path + "/")]
        if not gone:
            raise FileNotFound(f"no such file in /workspace: {path}")
        for name in gone:
            del store[name]
        return protocol.FileDeleted(path=path)

    async def list_directory(self, endpoint: ShipEndpoint, path: str) -> protocol.DirectoryListing:
        prefix = "" if path == "." else path + "/"
        children: dict[str, protocol.DirectoryEntry] = {}
        for name, data in self.store(endpoint).items():
            if not name.startswith(prefix):
                continue
            first, _, rest = name[len(prefix) :].partition("/")
            children[first] = protocol.DirectoryEntry(
                name=first,
                path=prefix + first,
                type="directory" if rest else "file",
                size=0 if rest else len(data),
            )
        if path != "." and not children:
            raise FileNotFound(f"no such directory in /workspace: {path}")
        return protocol.DirectoryListing(
            path=path, entries=[children[name] for name in sorted(children)]
        )

    async def upload(
        self,
        endpoint: ShipEndpoint,
        path: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None = None,
    ) -> protocol.FileWritten:
        data = b"".join([chunk async for chunk in chunks])
        self.store(endpoint)[path] = data
        return protocol.FileWritten(path=path, size=len(data))

    async def move(
        self, endpoint: ShipEndpoint, source: str, destination: str
    ) -> protocol.FileWritten:
        data = self.store(endpoint).pop(source)
        self.store(endpoint)[destination] = data
        return protocol.FileWritten(path=destination, size=len(data))

    @asynccontextmanager
    async def download(self, endpoint: ShipEndpoint, path: str) -> AsyncIterator[Download]:
        data = self._bytes(endpoint, path)

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        yield Download(size=len(data), chunks=chunks())
