"""Files in the sandbox's cargo (/workspace): read, write, edit, list, delete, bytes."""

from __future__ import annotations

import base64
import logging
import mimetypes
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bay_mcp.adapters.ship_client import Download, ShipClient, ShipEndpoint
from bay_mcp.errors import BayError, PayloadTooLarge, ValidationFailed
from bay_mcp.limits import (
    MAX_IMAGE_BYTES,
    MAX_RESOURCE_BYTES,
    MAX_WRITE_CHARS,
    READ_LIMIT_FACTOR,
)
from bay_mcp.managers import Progress, no_progress
from bay_mcp.paths import workspace_path
from bay_mcp.services.runtime_gate import check_unexpired
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.views import (
    IMAGE_TYPES,
    BinaryFile,
    DirectoryEntry,
    DirectoryListing,
    FileEdited,
    FileRead,
    FileText,
    FileWritten,
    ImageFile,
    ResourceContent,
    TextFile,
)
from bay_mcp.storage.models import new_id
from ship import protocol

if TYPE_CHECKING:
    from bay_mcp.services.cargo_files import CargoFileService

log = logging.getLogger(__name__)

# Uploads whose path comes after their bytes wait here, inside the cargo (a rename
# away from their place).
UPLOAD_STAGING_DIR = ".bay/uploads"


class FileService:
    def __init__(
        self,
        sandboxes: SandboxService,
        ship: ShipClient,
        output_limit_chars: int,
        cargo_files: CargoFileService | None = None,
    ) -> None:
        self._sandboxes = sandboxes
        self._ship = ship
        # Reads a stopped sandbox's resources without starting it.
        self._cargo_files = cargo_files
        # A text read for a model returns at most this many characters.
        self._read_limit_chars = output_limit_chars * READ_LIMIT_FACTOR

    async def read_for_model(
        self,
        owner: str,
        sandbox_id: str,
        path: str,
        progress: Progress,
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> FileRead:
        """A file as a model reads it: text (cut with a note saying how to read on),
        a small image as an image, anything else described by its type and size."""
        relative = workspace_path(path)
        mime_type = guess_mime_type(relative)
        suffix = "." + relative.rsplit(".", 1)[-1].lower() if "." in relative else ""
        if suffix in IMAGE_TYPES:
            try:
                data = await self.read_bytes(
                    owner, sandbox_id, relative, progress, max_bytes=MAX_IMAGE_BYTES
                )
            except PayloadTooLarge as exc:
                return BinaryFile(path=relative, mime_type=mime_type, size=exc.details["size"])
            return ImageFile(
                path=relative,
                mime_type=f"image/{IMAGE_TYPES[suffix]}",
                data=base64.b64encode(data).decode(),
            )
        try:
            text = await self.read_text(
                owner, sandbox_id, relative, progress, offset=offset, limit=limit
            )
        except ValidationFailed as exc:
            if not exc.details.get(protocol.BINARY_DETAIL):
                raise
            size = exc.details.get(protocol.SIZE_DETAIL)
            return BinaryFile(path=relative, mime_type=mime_type, size=size)
        return TextFile(path=relative, content=self._with_read_note(text, offset))

    def _with_read_note(self, text: FileText, offset: int) -> str:
        content, most = text.content, self._read_limit_chars
        if len(content) > most:
            return content[:most] + (
                f"\n[… cut at {most} characters of {len(content)}: read further with offset "
                "and limit (lines)]"
            )
        if text.truncated:
            shown = content.count("\n")
            return content + (
                f"\n[Showing lines {offset + 1}–{offset + shown} of {text.total_lines}; use "
                "offset and limit to read more]"
            )
        return content or "(empty file)"

    async def read_resource(self, owner: str, sandbox_id: str, path: str) -> ResourceContent:
        """A file as text (with its MIME type) or bytes; a directory as a JSON listing.
        A sandbox with no running session is read through its cargo: nothing starts."""
        relative = workspace_path(path, allow_root=True)
        reader = await self._resource_reader(owner, sandbox_id)
        if relative != ".":
            try:
                text = await reader.text(relative)
                return ResourceContent(content=text.content, mime_type=guess_mime_type(relative))
            except ValidationFailed as exc:
                if exc.details.get(protocol.BINARY_DETAIL):
                    data = await reader.data(relative, MAX_RESOURCE_BYTES)
                    return ResourceContent(content=data, mime_type=guess_mime_type(relative))
                if not exc.details.get(protocol.DIRECTORY_DETAIL):
                    raise
        listing = await reader.listing(relative)
        return ResourceContent(
            content=listing.model_dump_json(indent=2), mime_type="application/json"
        )

    async def listing_without_starting(
        self, owner: str, sandbox_id: str, path: str
    ) -> DirectoryListing | None:
        """A directory's listing from the running session, else through the cargo at
        rest (as resources are read); None when only starting the sandbox could list it."""
        reader, at_rest = await self._reader(owner, sandbox_id)
        if at_rest and reader is None:
            return None
        if reader is None:
            return await self.list_directory(owner, sandbox_id, path, no_progress)
        return await reader.listing(path)

    async def _resource_reader(self, owner: str, sandbox_id: str) -> _Reader:
        reader, _ = await self._reader(owner, sandbox_id)
        if reader is not None:
            return reader
        return _Reader(
            text=lambda path: self.read_text(owner, sandbox_id, path, no_progress),
            data=lambda path, most: self.read_bytes(
                owner, sandbox_id, path, no_progress, max_bytes=most
            ),
            listing=lambda path: self.list_directory(owner, sandbox_id, path, no_progress),
        )

    async def _reader(self, owner: str, sandbox_id: str) -> tuple[_Reader | None, bool]:
        """The reader of a sandbox's cargo at rest (None: read through a session), and
        whether no session runs."""
        sandbox, cargo, session = await self._sandboxes.catalogue.row_for_a_call(owner, sandbox_id)
        at_rest = session is None or session.observed_state != "ready"
        profile = self._sandboxes.catalogue.profile(sandbox.profile)
        files = self._cargo_files
        if (
            files is not None
            and files.reachable
            and cargo is not None
            and at_rest
            and "filesystem" in profile.capabilities
        ):
            check_unexpired(sandbox)
            cargo_id = cargo.id
            return _Reader(
                text=lambda path: files.read_text(owner, cargo_id, path),
                data=lambda path, most: files.read_bytes(owner, cargo_id, path, max_bytes=most),
                listing=lambda path: files.list_directory(owner, cargo_id, path),
            ), at_rest
        return None, at_rest

    async def read_text(
        self,
        owner: str,
        sandbox_id: str,
        path: str,
        progress: Progress,
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> FileText:
        """A UTF-8 file, or a window of lines; binary files raise ValidationFailed
        with details.binary (download them instead)."""
        relative = workspace_path(path)
        if offset < 0 or (limit is not None and limit < 1):
            raise ValidationFailed(
                "offset must be ≥ 0 and limit ≥ 1 (both count lines)",
                {"fields": ["offset", "limit"]},
            )
        async with self._sandboxes.runtime(owner, sandbox_id, "filesystem", progress) as endpoint:
            raw = await self._ship.read_file(endpoint, relative, offset, limit)
            return FileText(**raw.model_dump())

    async def write_text(
        self, owner: str, sandbox_id: str, path: str, content: str, progress: Progress
    ) -> FileWritten:
        relative = workspace_path(path)
        if len(content) > MAX_WRITE_CHARS:
            raise ValidationFailed(
                f"content is longer than {MAX_WRITE_CHARS} characters: upload large files",
                {"fields": ["content"]},
            )
        async with self._sandboxes.runtime(owner, sandbox_id, "filesystem", progress) as endpoint:
            raw = await self._ship.write_file(endpoint, relative, content)
        await self._sandboxes.changes.files(owner, sandbox_id, [raw.path])
        return FileWritten(path=raw.path, size=raw.size)

    async def edit_text(
        self,
        owner: str,
        sandbox_id: str,
        path: str,
        old_string: str,
        new_string: str,
        progress: Progress,
        *,
        replace_all: bool = False,
    ) -> FileEdited:
        """Replace `old_string` by `new_string`: exactly once unless `replace_all`."""
        if not old_string:
            raise ValidationFailed("old_string is empty", {"fields": ["old_string"]})
        if old_string == new_string:
            raise ValidationFailed(
                "old_string and new_string are the same: nothing to change",
                {"fields": ["new_string"]},
            )
        current = await self.read_text(owner, sandbox_id, path, progress)
        if current.truncated:
            raise ValidationFailed(f"{current.path} is too large to edit in place")
        count = current.content.count(old_string)
        if count == 0:
            raise ValidationFailed(
                f"old_string was not found in {current.path}: read the file and copy the "
                "exact text, whitespace included",
                {"fields": ["old_string"]},
            )
        if count > 1 and not replace_all:
            raise ValidationFailed(
                f"old_string occurs {count} times in {current.path}: give more context to "
                "make it unique, or set replace_all",
                {"fields": ["old_string"], "occurrences": count},
            )
        updated = current.content.replace(old_string, new_string)
        written = await self.write_text(owner, sandbox_id, current.path, updated, progress)
        return FileEdited(path=written.path, replacements=count, size=written.size)

    async def list_directory(
        self, owner: str, sandbox_id: str, path: str, progress: Progress
    ) -> DirectoryListing:
        relative = workspace_path(path, allow_root=True)
        async with self._sandboxes.runtime(owner, sandbox_id, "filesystem", progress) as endpoint:
            return listing_view(await self._ship.list_directory(endpoint, relative))

    async def delete(self, owner: str, sandbox_id: str, path: str, progress: Progress) -> str:
        relative = workspace_path(path)
        async with self._sandboxes.runtime(owner, sandbox_id, "filesystem", progress) as endpoint:
            await self._ship.delete_file(endpoint, relative)
        await self._sandboxes.changes.files(owner, sandbox_id, [relative])
        return relative

    async def upload(
        self, owner: str, sandbox_id: str, body: UploadBody, progress: Progress
    ) -> FileWritten:
        """Stream an upload into the workspace; Bay holds one chunk at a time.

        Over the upload limit (the profile's `max_upload_mb`, else the cargo's size
        limit) is PayloadTooLarge: at once when the body declares its size, else when
        the bytes pass it. A refused, failed or abandoned upload leaves no file.
        """
        if body.path is not None:
            workspace_path(body.path)  # a bad path is refused before the sandbox starts
        limit = await self._sandboxes.upload_limit_bytes(owner, sandbox_id)
        if limit is not None and body.declared_size is not None and body.declared_size > limit:
            raise _upload_too_large(limit)
        async with self._sandboxes.runtime(owner, sandbox_id, "filesystem", progress) as endpoint:
            written = await upload_through(
                self._ship, endpoint, body, within(body.chunks(), limit, _upload_too_large)
            )
        await self._sandboxes.changes.files(owner, sandbox_id, [written.path])
        return written

    async def read_bytes(
        self, owner: str, sandbox_id: str, path: str, progress: Progress, *, max_bytes: int
    ) -> bytes:
        """A whole file's bytes, for surfaces that cannot stream (MCP). Over `max_bytes`
        is PayloadTooLarge, refused before its bytes are read."""
        async with self.download(owner, sandbox_id, path, progress) as download:
            return await whole(download, path, max_bytes)

    @asynccontextmanager
    async def download(
        self, owner: str, sandbox_id: str, path: str, progress: Progress
    ) -> AsyncIterator[Download]:
        """A file's size and bytes as a stream; a missing file raises FileNotFound
        before any byte."""
        relative = workspace_path(path)
        async with (
            self._sandboxes.runtime(owner, sandbox_id, "filesystem", progress) as endpoint,
            self._ship.download(endpoint, relative) as download,
        ):
            yield download


@dataclass(frozen=True)
class _Reader:
    """How a resource read reaches the files: a sandbox's session, or its cargo."""

    text: Callable[[str], Awaitable[FileText]]
    data: Callable[[str, int], Awaitable[bytes]]
    listing: Callable[[str], Awaitable[DirectoryListing]]


async def whole(download: Download, path: str, max_bytes: int) -> bytes:
    """A download's bytes; over `max_bytes` is PayloadTooLarge, refused before its bytes
    are read when its size is known."""
    if download.size is not None and download.size > max_bytes:
        raise _read_too_large(path, download.size, max_bytes)
    data = bytearray()
    async for chunk in download.chunks:
        data += chunk
        if len(data) > max_bytes:
            raise _read_too_large(path, None, max_bytes)
    return bytes(data)


class UploadBody(Protocol):
    """An upload as a surface receives it: bytes that arrive as a stream, and a path
    known before them (`path`) or only once they are all read (`path_after`)."""

    @property
    def path(self) -> str | None: ...

    @property
    def declared_size(self) -> int | None: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def path_after(self) -> str: ...


def _upload_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload is over this sandbox's {limit}-byte upload limit (its profile's "
        "max_upload_mb, else its cargo's size limit); nothing was written",
        {"limit_bytes": limit},
    )


def _read_too_large(path: str, size: int | None, max_bytes: int) -> PayloadTooLarge:
    sized = f"is {size} bytes" if size is not None else "is larger than that"
    return PayloadTooLarge(
        f"{path} {sized}: whole-file reads here stop at {max_bytes} bytes. Download it over "
        "REST (/filesystem/download), or work on it in the sandbox with python_exec or "
        "shell_exec",
        {"limit_bytes": max_bytes, "size": size if size is not None else -1},
    )


async def within(
    chunks: AsyncIterator[bytes], limit: int | None, refusal: Callable[[int], PayloadTooLarge]
) -> AsyncIterator[bytes]:
    """`chunks` as they come; `refusal(limit)` raised once they pass `limit` bytes."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if limit is not None and received > limit:
            raise refusal(limit)
        yield chunk


async def upload_through(
    ship: ShipClient, endpoint: ShipEndpoint, body: UploadBody, chunks: AsyncIterator[bytes]
) -> FileWritten:
    """Stream an upload's `chunks` to the Ship at `endpoint`, at `body.path` or, when
    that comes after the bytes, staged in the workspace and moved there at the end. A
    failed upload leaves no file."""
    target = workspace_path(body.path) if body.path is not None else None
    # A path that only comes after the bytes (a form with the file before the path) is
    # known at the end: the bytes wait in the workspace meanwhile.
    staging = target or f"{UPLOAD_STAGING_DIR}/{new_id('upload')}"
    raw = await ship.upload(endpoint, staging, chunks, body.declared_size)
    if target is not None:
        return FileWritten(path=raw.path, size=raw.size)
    try:
        final = workspace_path(await body.path_after())
        raw = await ship.move(endpoint, staging, final)
    except BaseException:
        try:
            await ship.delete_file(endpoint, staging)
        except BayError as exc:
            log.warning("could not remove the staged upload %s: %s", staging, exc)
        raise
    return FileWritten(path=raw.path, size=raw.size)


def listing_view(raw: protocol.DirectoryListing) -> DirectoryListing:
    entries = [
        DirectoryEntry(
            name=entry.name,
            path=entry.path,
            type=entry.type,
            is_file=entry.type == "file",
            is_dir=entry.type == "directory",
            size=entry.size,
            modified_time=entry.modified_time,
        )
        for entry in raw.entries
    ]
    return DirectoryListing(path=raw.path, entries=entries)


def guess_mime_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"
