"""A cargo's files with no sandbox: read, write, list, delete, upload, download.

The same Ship as a sandbox's serves them (a cargo helper, managers/cargo_helpers.py),
so shapes, limits and path rules are the sandbox's and files belong to the sandbox
user. No sandbox's container starts. A change is refused (`conflict`) while a call
runs on a sandbox that mounts the cargo (an exec may be writing the same files), and
held alone against those sandboxes while it runs (managers/gate.py): calls arriving
meanwhile wait for it, so neither sees half of the other. Like the gate, this holds
within one Bay process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from bay_mcp.adapters.ship_client import Download, ShipClient, ShipEndpoint
from bay_mcp.drivers import Driver
from bay_mcp.errors import (
    CapabilityNotSupported,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from bay_mcp.limits import MAX_WRITE_CHARS, MB
from bay_mcp.managers import Progress, no_progress
from bay_mcp.managers.cargo_helpers import CargoHelpers
from bay_mcp.managers.gate import SandboxGate
from bay_mcp.paths import workspace_path
from bay_mcp.services.changes import Changes
from bay_mcp.services.files import UploadBody, listing_view, upload_through, whole, within
from bay_mcp.services.views import DirectoryListing, FileText, FileWritten
from bay_mcp.storage.cargos import CargoRepository
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import Cargo


class CargoFileService:
    def __init__(
        self,
        db: Database,
        driver: Driver,
        helpers: CargoHelpers,
        gate: SandboxGate,
        ship: ShipClient,
        changes: Changes | None = None,
    ) -> None:
        self._changes = changes or Changes()
        self._rows = CargoRepository(db)
        self._driver = driver
        self._helpers = helpers
        self._gate = gate
        self._ship = ship

    @property
    def reachable(self) -> bool:
        """Whether this driver lets a cargo's files be reached with no sandbox."""
        return self._driver.shares_volumes

    async def _cargo(self, owner: str, cargo_id: str) -> Cargo:
        cargo = await self._rows.get(cargo_id)
        if cargo is None or cargo.owner != owner:
            raise NotFound(f"cargo {cargo_id} not found")
        if not self.reachable:
            raise CapabilityNotSupported(
                f"cargo {cargo_id}'s files cannot be reached without a sandbox on this "
                "driver (Kubernetes: a claim is mounted by one Pod); use the "
                "/v1/sandboxes/{id}/filesystem routes of a sandbox holding it",
                {"capability": "cargo_files", "available": []},
            )
        return cargo

    @asynccontextmanager
    async def _reading(
        self, owner: str, cargo_id: str, progress: Progress
    ) -> AsyncIterator[ShipEndpoint]:
        cargo = await self._cargo(owner, cargo_id)
        async with self._helpers.endpoint(cargo, progress) as endpoint:
            yield endpoint

    @asynccontextmanager
    async def _writing(
        self, owner: str, cargo_id: str, progress: Progress
    ) -> AsyncIterator[ShipEndpoint]:
        """The helper's endpoint, with every sandbox mounting the cargo held off."""
        cargo = await self._cargo(owner, cargo_id)
        users = sorted(await self._rows.users(cargo_id))
        busy = [sandbox_id for sandbox_id in users if self._gate.calls_in_flight(sandbox_id)]
        if busy:
            raise Conflict(
                f"cargo {cargo_id} is in use by a call running on sandbox {', '.join(busy)} "
                "(an exec may be writing its files): nothing was changed. Retry once that "
                f"call has ended, or change the file through the sandbox "
                f"(/v1/sandboxes/{busy[0]}/filesystem/...)",
                {"active_sandbox_ids": busy},
            )
        async with AsyncExitStack() as stack:
            # In one order (sorted ids), so two writers never wait for each other.
            for sandbox_id in users:
                await stack.enter_async_context(self._gate.exclusive(sandbox_id, progress))
            async with self._helpers.endpoint(cargo, progress) as endpoint:
                yield endpoint

    async def read_text(
        self,
        owner: str,
        cargo_id: str,
        path: str,
        progress: Progress = no_progress,
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> FileText:
        """A UTF-8 file (or a window of lines); binary files raise ValidationFailed with
        details.binary (download them instead)."""
        relative = workspace_path(path)
        async with self._reading(owner, cargo_id, progress) as endpoint:
            raw = await self._ship.read_file(endpoint, relative, offset, limit)
            return FileText(**raw.model_dump())

    async def write_text(
        self, owner: str, cargo_id: str, path: str, content: str, progress: Progress = no_progress
    ) -> FileWritten:
        """Write a text file, its parent directories made; Conflict while a sandbox
        holding the cargo runs a call."""
        relative = workspace_path(path)
        if len(content) > MAX_WRITE_CHARS:
            raise ValidationFailed(
                f"content is longer than {MAX_WRITE_CHARS} characters: upload large files",
                {"fields": ["content"]},
            )
        async with self._writing(owner, cargo_id, progress) as endpoint:
            raw = await self._ship.write_file(endpoint, relative, content)
        await self._tell(owner, cargo_id, raw.path)
        return FileWritten(path=raw.path, size=raw.size)

    async def delete(
        self, owner: str, cargo_id: str, path: str, progress: Progress = no_progress
    ) -> str:
        relative = workspace_path(path)
        async with self._writing(owner, cargo_id, progress) as endpoint:
            await self._ship.delete_file(endpoint, relative)
        await self._tell(owner, cargo_id, relative)
        return relative

    async def list_directory(
        self, owner: str, cargo_id: str, path: str, progress: Progress = no_progress
    ) -> DirectoryListing:
        relative = workspace_path(path, allow_root=True)
        async with self._reading(owner, cargo_id, progress) as endpoint:
            return listing_view(await self._ship.list_directory(endpoint, relative))

    async def upload(
        self, owner: str, cargo_id: str, body: UploadBody, progress: Progress = no_progress
    ) -> FileWritten:
        """Stream an upload into the cargo (over its size limit: PayloadTooLarge, and
        no file is left)."""
        if body.path is not None:
            workspace_path(body.path)  # a bad path is refused before a helper starts
        cargo = await self._cargo(owner, cargo_id)
        limit = cargo.size_limit_mb * MB if cargo.size_limit_mb is not None else None
        if limit is not None and body.declared_size is not None and body.declared_size > limit:
            raise _upload_too_large(limit)
        async with self._writing(owner, cargo_id, progress) as endpoint:
            written = await upload_through(
                self._ship, endpoint, body, within(body.chunks(), limit, _upload_too_large)
            )
        await self._tell(owner, cargo_id, written.path)
        return written

    async def _tell(self, owner: str, cargo_id: str, path: str) -> None:
        """The file changed in every sandbox holding the cargo (their cargo:// URIs)."""
        for sandbox_id in sorted(await self._rows.users(cargo_id)):
            await self._changes.files(owner, sandbox_id, [path])

    async def read_bytes(self, owner: str, cargo_id: str, path: str, *, max_bytes: int) -> bytes:
        """A whole file's bytes; over `max_bytes` is PayloadTooLarge."""
        async with self.download(owner, cargo_id, path) as download:
            return await whole(download, path, max_bytes)

    @asynccontextmanager
    async def download(
        self, owner: str, cargo_id: str, path: str, progress: Progress = no_progress
    ) -> AsyncIterator[Download]:
        """A file's size and bytes as a stream; FileNotFound before any byte."""
        relative = workspace_path(path)
        async with (
            self._reading(owner, cargo_id, progress) as endpoint,
            self._ship.download(endpoint, relative) as download,
        ):
            yield download


def _upload_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload is over this cargo's {limit}-byte size limit; nothing was written",
        {"limit_bytes": limit},
    )
