"""Fakes of Bay's adapters, for unit tests of the layers above them.

`FakeDriver` keeps containers and volumes in memory; `FakeShip` answers with the
models of Ship's protocol (`ship/protocol.py`), so it cannot drift from the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bay_mcp.adapters.ship_client import (
    Download,
    OutputSink,
    ShipClient,
    ShipEndpoint,
    reaching,
)
from bay_mcp.adapters.ship_errors import NeverReached
from bay_mcp.drivers import ContainerInfo, ContainerSpec, DriverError, VolumeCopy
from bay_mcp.errors import (
    FileNotFound,
    NotFound,
    QuotaExceeded,
    SessionNotReady,
    Timeout,
    ValidationFailed,
)
from ship import protocol
from ship.settings import DEFAULT_MAX_PROCESSES


def _now_iso() -> str:
    """A modification time as Ship's listings give it."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


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
    shares_volumes: bool = True
    can_pause: bool = True
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def ping(self) -> str:
        return "fake"

    async def image_id(self, image: str) -> str | None:
        return self.image_ids.get(image, f"sha256:{image}") if image in self.images else None

    async def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.volumes[name] = labels

    async def remove_volume(self, name: str) -> None:
        if any(c.spec.volume == name for c in self.containers.values()):
            raise DriverError(f"removing volume {name}: volume is in use")  # as the engine
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

    async def pause_container(self, container_id: str) -> None:
        found = self.containers[container_id]
        found.info = replace(found.info, state="paused")

    async def unpause_container(self, container_id: str) -> None:
        found = self.containers[container_id]
        if found.info.state == "paused":
            found.info = replace(found.info, state="running")

    async def logs(self, container_id: str, tail: int = 50) -> str:
        return "fake log line"

    async def list_containers(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return [c.info for c in self.containers.values() if labels.items() <= c.info.labels.items()]

    async def close(self) -> None:
        return None

    def kill(self, container_id: str) -> None:
        """The container vanishes behind Bay's back (docker rm -f, engine restart)."""
        del self.containers[container_id]


@dataclass
class FakeProcess:
    """A process as FakeShip keeps it: its output is what a test makes it print (and,
    like `cat`, the input it is sent); it runs until signalled or `FakeShip.finish`."""

    info: protocol.ProcessInfo
    output: bytearray = field(default_factory=bytearray)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stdin_closed: bool = False

    def touch(self) -> None:
        self.info.output_bytes = len(self.output)
        self.changed.set()
        self.changed = asyncio.Event()


class FakeShip(ShipClient):
    """Answers like Ship, from memory; one file store (path -> bytes) per endpoint."""

    def __init__(self, driver: FakeDriver | None = None) -> None:
        # With a driver, a request to a container it no longer has never arrives, and is
        # recovered as the real client recovers it.
        self.driver = driver
        self.meta_answer = good_meta()
        self.files: dict[str, dict[str, bytes]] = {}
        # Each file's modification time as listings give it, by path in any store
        # (stamped by writes and uploads; a test may set one).
        self.modified_times: dict[str, str] = {}
        self.python_answer: protocol.PythonExecResult | None = None
        self.shell_answer: protocol.ShellExecResult | None = None
        self.block_python: asyncio.Event | None = None
        self.python_started = asyncio.Event()
        self.interrupts = 0
        self.languages: list[str] = []  # of the code runs, in order
        self.shell_cancels: list[str] = []
        self.calls: list[str] = []
        self.heartbeats: list[tuple[str, bool]] = []  # (endpoint, claimed) of pool checks
        # Processes per endpoint, in start order; a started one prints `$ command\n`.
        self.processes: dict[str, dict[str, FakeProcess]] = {}
        self.max_processes = DEFAULT_MAX_PROCESSES
        self._process_ids = itertools.count(1)
        # A runtime that stopped answering (frozen, hung): /health gets no answer.
        self.unresponsive = False

    async def close(self) -> None:
        return None

    async def healthy(self, endpoint: ShipEndpoint) -> bool:
        return True

    async def answers(self, endpoint: ShipEndpoint, within: float = 1.0) -> bool:
        return not self.unresponsive

    async def meta(self, endpoint: ShipEndpoint) -> protocol.Meta:
        return self.meta_answer

    async def pool_heartbeat(self, endpoint: ShipEndpoint, *, claimed: bool) -> protocol.PoolWatch:
        self.heartbeats.append((endpoint.url, claimed))
        return protocol.PoolWatch(watching=not claimed)

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
        if self.unresponsive:
            raise Timeout(f"the runtime did not answer /python/exec within {timeout + 5:g} s")
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

    async def code_exec(
        self,
        endpoint: ShipEndpoint,
        language: protocol.Language,
        code: str,
        timeout: float,
        on_output: OutputSink | None = None,
    ) -> protocol.PythonExecResult:
        """Every language's kernel answers as the fake Python one, the language noted."""
        self.languages.append(language)
        return await self.python_exec(endpoint, code, timeout, on_output)

    async def code_interrupt(self, endpoint: ShipEndpoint, language: protocol.Language) -> bool:
        return await self.python_interrupt(endpoint)

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

    # -- processes ---------------------------------------------------------------------

    def _processes(self, endpoint: ShipEndpoint) -> dict[str, FakeProcess]:
        return self.processes.setdefault(endpoint.url, {})

    def _process(self, endpoint: ShipEndpoint, process_id: str) -> FakeProcess:
        process = self._processes(endpoint).get(process_id)
        if process is None:
            raise NotFound(f"no process {process_id!r} in this session")
        return process

    def print(self, endpoint: ShipEndpoint, process_id: str, text: str) -> None:
        """The process writes `text` (a test's hand on it)."""
        process = self._process(endpoint, process_id)
        process.output += text.encode()
        process.info.last_output_at = datetime.now(UTC)
        process.touch()

    def finish(
        self, endpoint: ShipEndpoint, process_id: str, exit_code: int = 0, signal: str | None = None
    ) -> None:
        """The process ends: exits with `exit_code`, or is killed by `signal` (SIGTERM)."""
        process = self._process(endpoint, process_id)
        info = process.info
        info.state = "killed" if signal else "exited"
        info.exit_code = None if signal else exit_code
        info.signal = signal
        info.ended_at = datetime.now(UTC)
        info.memory_bytes = None
        info.ports = []
        process.touch()

    async def process_start(
        self, endpoint: ShipEndpoint, request: protocol.ProcessStartRequest
    ) -> protocol.ProcessInfo:
        await self._arrive(endpoint)
        processes = self._processes(endpoint)
        running = sum(p.info.state == "running" for p in processes.values())
        if running >= self.max_processes:
            raise QuotaExceeded(
                f"{self.max_processes} processes are running, this sandbox's limit",
                {protocol.LIMIT_DETAIL: protocol.RUNNING_PROCESSES_LIMIT},
            )
        process_id = f"proc-{next(self._process_ids):08x}"
        info = protocol.ProcessInfo(
            id=process_id,
            name=request.name,
            command=request.command,
            cwd=request.cwd,
            pty=request.pty,
            state="running",
            started_at=datetime.now(UTC),
            cpu_seconds=0.0,
            memory_bytes=1 << 20,
            log_path=f".bay/processes/{process_id}.log",
            rows=request.rows if request.pty else None,
            cols=request.cols if request.pty else None,
        )
        processes[process_id] = FakeProcess(info, bytearray(f"$ {request.command}\n".encode()))
        processes[process_id].touch()
        return info.model_copy()

    async def process_list(self, endpoint: ShipEndpoint) -> protocol.ProcessList:
        await self._arrive(endpoint)
        return protocol.ProcessList(
            processes=[p.info.model_copy() for p in self._processes(endpoint).values()]
        )

    async def process_get(self, endpoint: ShipEndpoint, process_id: str) -> protocol.ProcessInfo:
        await self._arrive(endpoint)
        return self._process(endpoint, process_id).info.model_copy()

    async def process_output(
        self,
        endpoint: ShipEndpoint,
        process_id: str,
        since: int | None = None,
        wait_seconds: float = 0.0,
        max_bytes: int = protocol.DEFAULT_OUTPUT_CHUNK_BYTES,
    ) -> protocol.ProcessOutput:
        await self._arrive(endpoint)
        process = self._process(endpoint, process_id)
        offset = min(since or 0, len(process.output))
        if offset == len(process.output) and process.info.state == "running":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.changed.wait(), wait_seconds)
        data = bytes(process.output[offset : offset + max_bytes])
        return protocol.ProcessOutput(
            text=data.decode(errors="replace"),
            offset=offset,
            next_offset=offset + len(data),
            more=offset + len(data) < len(process.output),
            process=process.info.model_copy(),
        )

    async def process_input(
        self, endpoint: ShipEndpoint, process_id: str, request: protocol.ProcessInputRequest
    ) -> protocol.ProcessInputResult:
        await self._arrive(endpoint)
        process = self._process(endpoint, process_id)
        if process.info.state != "running":
            raise ValidationFailed(f"process {process_id} has ended; it takes no more input")
        if process.stdin_closed:
            raise ValidationFailed("the process's input is closed")
        data = request.text.encode() + b"".join(
            b"\n" if key == "Enter" else f"<{key}>".encode() for key in request.keys
        )
        process.output += data  # it echoes, as `cat` or a terminal does
        process.stdin_closed = request.close_stdin
        process.touch()
        return protocol.ProcessInputResult(written=len(data))

    async def process_signal(
        self, endpoint: ShipEndpoint, process_id: str, signal: protocol.SignalName
    ) -> protocol.ProcessSignalResult:
        await self._arrive(endpoint)
        process = self._process(endpoint, process_id)
        running = process.info.state == "running"
        if running and signal not in ("STOP", "CONT"):
            self.finish(endpoint, process_id, signal=f"SIG{signal}")
        return protocol.ProcessSignalResult(sent=running, process=process.info.model_copy())

    async def process_wait(
        self, endpoint: ShipEndpoint, process_id: str, timeout: float
    ) -> protocol.ProcessInfo:
        await self._arrive(endpoint)
        process = self._process(endpoint, process_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while process.info.state == "running" and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.changed.wait(), deadline - loop.time())
        return process.info.model_copy()

    def _terminal(self, endpoint: ShipEndpoint, process_id: str) -> FakeProcess:
        process = self._process(endpoint, process_id)
        if not process.info.pty:
            raise ValidationFailed(f"process {process_id} has no terminal")
        return process

    async def terminal_resize(
        self, endpoint: ShipEndpoint, process_id: str, rows: int, cols: int
    ) -> protocol.ProcessInfo:
        await self._arrive(endpoint)
        process = self._terminal(endpoint, process_id)
        process.info.rows, process.info.cols = rows, cols
        return process.info.model_copy()

    async def terminal_screen(
        self, endpoint: ShipEndpoint, process_id: str
    ) -> protocol.TerminalScreen:
        """The last lines of output, cut to the terminal's size (no escape sequences)."""
        await self._arrive(endpoint)
        process = self._terminal(endpoint, process_id)
        rows, cols = process.info.rows or 24, process.info.cols or 80
        text = process.output.decode(errors="replace")
        lines = [line[:cols] for line in text.split("\n")][-rows:]
        cursor_row, cursor_col = len(lines) - 1, len(lines[-1])
        lines += [""] * (rows - len(lines))
        marked = list(lines)
        marked[cursor_row] = lines[cursor_row][:cursor_col] + "█"
        return protocol.TerminalScreen(
            rows=rows,
            cols=cols,
            lines=lines,
            cursor_row=cursor_row,
            cursor_col=min(cursor_col, cols - 1),
            rendered="\n".join(marked),
            process=process.info.model_copy(),
        )

    def store(self, endpoint: ShipEndpoint) -> dict[str, bytes]:
        """The files at the endpoint: its container's volume's, as every container
        mounting that volume sees them (a sandbox's, a cargo helper's)."""
        key = endpoint.url
        if self.driver is not None:
            for container in self.driver.containers.values():
                if container.info.endpoint == endpoint.url:
                    key = container.spec.volume
        return self.files.setdefault(key, {})

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
        self.modified_times[path] = _now_iso()
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
                modified_time=None if rest else self.modified_times.get(prefix + first),
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
        self.modified_times[path] = _now_iso()
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
