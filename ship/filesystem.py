"""Workspace files: read, write, list, delete, upload and download.

Blocking functions; the app runs them in a worker thread. Every path goes through
`paths.resolve` first. Writes go to a temporary file that is renamed into place, so
a reader never sees half a file and a failed write leaves the old one intact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ship.errors import FileNotFound, InvalidPath, ValidationFailed
from ship.paths import WorkspacePath, resolve
from ship.protocol import (
    BINARY_DETAIL,
    DIRECTORY_DETAIL,
    SIZE_DETAIL,
    DirectoryEntry,
    DirectoryListing,
    EntryType,
    FileDeleted,
    FileText,
    FileWritten,
)
from ship.quota import WorkspaceQuota


@contextlib.contextmanager
def _os_errors(path: WorkspacePath) -> Iterator[None]:
    """Turn OS errors into Ship errors that say what to do."""
    try:
        yield
    except FileNotFoundError as exc:
        raise FileNotFound(f"no such file in /workspace: {path.relative}") from exc
    except NotADirectoryError as exc:
        raise FileNotFound(f"{path.relative}: a parent of this path is a file") from exc
    except IsADirectoryError as exc:
        raise ValidationFailed(
            f"{path.relative} is a directory: list it instead, or name a file in it",
            {DIRECTORY_DETAIL: True},
        ) from exc
    except PermissionError as exc:
        raise InvalidPath(f"{path.relative}: permission denied") from exc
    except OSError as exc:
        if exc.errno == 36:  # ENAMETOOLONG
            raise InvalidPath(f"path is too long: {path.relative[:80]}…") from exc
        raise


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def read_text(
    workspace: Path, raw_path: object, *, offset: int, limit: int | None, max_bytes: int
) -> FileText:
    """Read a UTF-8 file, or a window of it: `offset` lines skipped, at most `limit` kept."""
    path = resolve(workspace, raw_path, allow_root=False)
    with _os_errors(path):
        size = path.real.stat().st_size
        if limit is None and offset == 0 and size > max_bytes:
            raise ValidationFailed(
                f"{path.relative} is {size} bytes, more than the {max_bytes}-byte text read "
                "limit: read it in windows with offset and limit, or download it",
                {"size": size, "max_bytes": max_bytes},
            )
        lines: list[str] = []
        kept = 0
        total = 0
        truncated = False
        with path.real.open("rb") as handle:
            for index, raw_line in enumerate(handle):
                total = index + 1
                if index < offset:
                    continue
                if limit is not None and len(lines) >= limit:
                    truncated = True
                    continue
                if kept + len(raw_line) > max_bytes:
                    truncated = True
                    continue
                try:
                    lines.append(raw_line.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise ValidationFailed(
                        f"{path.relative} is not UTF-8 text: download it as bytes instead",
                        {BINARY_DETAIL: True, SIZE_DETAIL: size},
                    ) from exc
                kept += len(raw_line)
    return FileText(
        path=path.relative,
        content="".join(lines),
        size=size,
        total_lines=total,
        truncated=truncated,
    )


class StagedFile:
    """A new version of a workspace file, written into a temporary sibling and renamed
    over the target by `commit()`, so a reader never sees half a file.

    With a quota, writing stops as soon as the bytes pass the room left (also when
    the caller declares a size over it, before anything is written): the temporary
    file is removed and nothing at the target changes. `abort()` does the same for a
    caller that gives up (a client that went away mid-upload).
    """

    def __init__(
        self,
        workspace: Path,
        raw_path: object,
        quota: WorkspaceQuota | None = None,
        declared_size: int | None = None,
    ) -> None:
        self.path = resolve(workspace, raw_path, allow_root=False)
        self._quota = quota
        self.written = 0
        target = self.path.real
        with _os_errors(self.path):
            self._room = quota.room_for(target) if quota is not None else None
            if declared_size is not None and self._room is not None:
                self._check_room(declared_size)
            # Directories made for the file go again if it is abandoned (deepest first).
            self._made_dirs = [p for p in [target.parent, *target.parent.parents]
                               if not p.exists() and p.is_relative_to(workspace)]  # fmt: skip
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                raise IsADirectoryError(target)
            self._old_size = target.stat().st_size if target.is_file() else 0
            fd, self._tmp_name = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
            )
        self._handle: IO[bytes] = os.fdopen(fd, "wb")

    def _check_room(self, size: int) -> None:
        if self._room is not None and size > self._room:
            assert self._quota is not None
            raise self._quota.refuse(size, self._room)

    def write(self, chunk: bytes | bytearray) -> None:
        try:
            self._check_room(self.written + len(chunk))
            self._handle.write(chunk)
        except BaseException:
            self.abort()
            raise
        self.written += len(chunk)

    def commit(self) -> FileWritten:
        try:
            with _os_errors(self.path):
                self._handle.close()
                os.chmod(self._tmp_name, 0o644)
                os.replace(self._tmp_name, self.path.real)
        except BaseException:
            self.abort()
            raise
        if self._quota is not None:
            self._quota.written(self.written - self._old_size)
        return FileWritten(path=self.path.relative, size=self.written)

    def abort(self) -> None:
        self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_name)
        for directory in self._made_dirs:
            with contextlib.suppress(OSError):  # not empty: something else is in it now
                directory.rmdir()


def write_text(
    workspace: Path, raw_path: object, content: str, quota: WorkspaceQuota | None = None
) -> FileWritten:
    """Write UTF-8 text, creating parent directories; return the path and size."""
    data = content.encode("utf-8")
    staged = StagedFile(workspace, raw_path, quota, declared_size=len(data))
    staged.write(data)
    return staged.commit()


def move(workspace: Path, raw_source: object, raw_destination: object) -> FileWritten:
    """Rename a file or directory within the workspace, replacing a destination file
    and creating its parent directories; return the new path and size."""
    source = resolve(workspace, raw_source, allow_root=False, follow_final_link=False)
    destination = resolve(workspace, raw_destination, allow_root=False)
    with _os_errors(source):
        if not source.real.exists() and not source.real.is_symlink():
            raise FileNotFoundError(source.real)
    with _os_errors(destination):
        destination.real.parent.mkdir(parents=True, exist_ok=True)
        if destination.real.is_dir() and not source.real.is_dir():
            raise IsADirectoryError(destination.real)
        os.replace(source.real, destination.real)
        size = destination.real.lstat().st_size
    return FileWritten(path=destination.relative, size=size)


def _entry_type(mode: int) -> EntryType:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def list_directory(workspace: Path, raw_path: object) -> DirectoryListing:
    """List one directory level: name, path, type, size and modification time."""
    path = resolve(workspace, raw_path, allow_root=True)
    entries = []
    with _os_errors(path):
        if not path.real.is_dir():
            if path.real.exists():
                raise NotADirectoryError(path.real)
            raise FileNotFoundError(path.real)
        for child in sorted(path.real.iterdir(), key=lambda p: p.name):
            info = child.lstat()
            kind = _entry_type(info.st_mode)
            relative = child.name if path.is_root else f"{path.relative}/{child.name}"
            entries.append(
                DirectoryEntry(
                    name=child.name,
                    path=relative,
                    type=kind,
                    size=info.st_size if kind == "file" else 0,
                    modified_time=_iso(info.st_mtime),
                )
            )
    return DirectoryListing(path=path.relative, entries=entries)


def delete(workspace: Path, raw_path: object) -> FileDeleted:
    """Delete a file, a symlink (not its target) or a whole directory."""
    path = resolve(workspace, raw_path, allow_root=False, follow_final_link=False)
    with _os_errors(path):
        if path.real.is_symlink():
            path.real.unlink()
        elif path.real.is_dir():
            shutil.rmtree(path.real)
        else:
            path.real.unlink()
    return FileDeleted(path=path.relative)


def file_for_download(workspace: Path, raw_path: object) -> tuple[Path, str]:
    """Check that `raw_path` names a regular file; return its real path and name."""
    path = resolve(workspace, raw_path, allow_root=False)
    with _os_errors(path):
        if path.real.is_dir():
            raise IsADirectoryError(path.real)
        if not path.real.exists():
            raise FileNotFoundError(path.real)
    return path.real, path.real.name
