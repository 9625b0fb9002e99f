"""Which files under /workspace a run created, changed or deleted: Linux inotify.

One inotify instance watches every directory of the workspace for Ship's lifetime (new
directories are added as they appear), so a run costs nothing while it runs: its events
are read once it ends. A scan before and after each run would cost every call a walk of
the whole workspace (a venv in it: tens of thousands of files).

What a run reports is what happened in the workspace while it ran (a file written at the
same time by another call of the same sandbox is included). `.bay/` (Bay's saved outputs)
and `.browser/` (the browser's profile) are left out. When the kernel cannot watch every
directory (its `max_user_watches`), or its queue overflowed, the list is marked
incomplete rather than guessed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ship import protocol

log = logging.getLogger(__name__)

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
WATCHED = (
    IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    | IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW
)  # fmt: skip
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len
EXCLUDED = frozenset({".bay", ".browser"})
MAX_LISTED = 100


@dataclass
class _Run:
    # path (relative) -> "created" | "modified" | "deleted"
    seen: dict[str, protocol.ChangeKind] = field(default_factory=dict)
    incomplete: bool = False

    def note(self, path: str, kind: protocol.ChangeKind) -> None:
        before = self.seen.get(path)
        if kind == "deleted":
            if before == "created":
                del self.seen[path]  # came and went within the run
            else:
                self.seen[path] = "deleted"
        elif kind == "created":
            self.seen[path] = "modified" if before == "deleted" else "created"
        elif before is None:
            self.seen[path] = "modified"


class WorkspaceWatch:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._dirs: dict[int, str] = {}  # watch descriptor -> directory (relative, "" root)
        self._runs: list[_Run] = []
        self._complete = True
        self._add_tree(root)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @contextmanager
    def run(self) -> Iterator[_Run]:
        """The changes of what runs inside the block, read when it ends."""
        self._read()  # what happened before belongs to no run
        current = _Run(incomplete=not self._complete)
        self._runs.append(current)
        try:
            yield current
        finally:
            self._read()
            self._runs.remove(current)

    def _add_tree(self, top: Path) -> None:
        for directory, names, _ in os.walk(top):
            relative = os.path.relpath(directory, self._root)
            relative = "" if relative == "." else relative
            if relative.split(os.sep, 1)[0] in EXCLUDED:
                names[:] = []
                continue
            if not self._watch(directory, relative):
                names[:] = []

    def _watch(self, directory: str, relative: str) -> bool:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), WATCHED)
        if wd < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOSPC, errno.ENOMEM):
                if self._complete:
                    log.warning(
                        "cannot watch every directory of the workspace: %s", os.strerror(code)
                    )
                self._complete = False
                for run in self._runs:
                    run.incomplete = True
            return False  # ENOENT and the like: it went away already
        self._dirs[wd] = relative
        return True

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        offset = 0
        while offset < len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            name = data[offset : offset + length].rstrip(b"\0").decode("utf-8", "surrogateescape")
            offset += length
            self._event(wd, mask, name)

    def _event(self, wd: int, mask: int, name: str) -> None:
        if mask & IN_Q_OVERFLOW:
            for run in self._runs:
                run.incomplete = True
            return
        if mask & IN_IGNORED:
            self._dirs.pop(wd, None)
            return
        directory = self._dirs.get(wd)
        if directory is None or not name:
            return
        path = os.path.join(directory, name) if directory else name
        if path.split(os.sep, 1)[0] in EXCLUDED:
            return
        if mask & IN_ISDIR:
            if mask & (IN_CREATE | IN_MOVED_TO):
                self._add_tree(self._root / path)  # and what was made in it meanwhile
                for run in self._runs:
                    for file in _files_under(self._root / path, self._root):
                        run.note(file, "created")
            return
        kind: protocol.ChangeKind | None = None
        if mask & (IN_CREATE | IN_MOVED_TO):
            kind = "created"
        elif mask & (IN_DELETE | IN_MOVED_FROM):
            kind = "deleted"
        elif mask & (IN_MODIFY | IN_CLOSE_WRITE):
            kind = "modified"
        if kind is not None:
            for run in self._runs:
                run.note(path, kind)


def _files_under(directory: Path, root: Path) -> list[str]:
    found: list[str] = []
    for current, _, files in os.walk(directory):
        found.extend(os.path.relpath(os.path.join(current, file), root) for file in files)
    return found


def report(run: _Run, root: Path) -> protocol.FilesChanged:
    """The run's changes, at most MAX_LISTED of them (sizes of what exists now)."""
    entries: list[protocol.FileChange] = []
    for path, kind in sorted(run.seen.items()):
        if len(entries) == MAX_LISTED:
            break
        size = None
        if kind != "deleted":
            try:
                stat = (root / path).lstat()
            except OSError:
                continue  # gone again since the event
            size = stat.st_size
        entries.append(protocol.FileChange(path=path, change=kind, size=size))
    return protocol.FilesChanged(files=entries, total=len(run.seen), complete=not run.incomplete)
