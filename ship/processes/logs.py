"""Where the processes' logs live in the workspace, and how many of them stay.

Each process writes `.bay/processes/<id>.log`. A log outlives its process's listing (the
user may still read it), but not without bound: the manager prunes the directory each
time it starts a process, so that at most `max_logs` log files remain. The oldest (by
modification time) go first, and the log of a process still listed never goes, so a
directory can hold more only while more processes than that are listed. Logs left by an
earlier Ship (the workspace outlives it) count like any other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from pathlib import Path

LOG_DIRECTORY = Path(".bay") / "processes"
LOG_SUFFIX = ".log"


def log_name(process_id: str) -> str:
    """The file name of a process's log, in LOG_DIRECTORY."""
    return f"{process_id}{LOG_SUFFIX}"


def _open_directory(workspace: Path) -> int:
    """The log directory, opened without following a link the sandbox's code put in place
    of `.bay` or of the directory (a pruning must not delete files elsewhere)."""
    fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in LOG_DIRECTORY.parts:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def prune_logs(workspace: Path, listed: Collection[str], max_logs: int) -> list[str]:
    """Delete the oldest log files until at most `max_logs` remain; the names deleted.

    Never deletes the log of a process in `listed` (ids), nor anything but a regular
    `*.log` file. Blocking: call it from a worker thread. OSError when the directory
    cannot be read or a log cannot be deleted; a missing directory has nothing to prune.
    """
    kept = {log_name(process_id) for process_id in listed}
    try:
        fd = _open_directory(workspace)
    except FileNotFoundError:
        return []
    try:
        count = 0
        candidates: list[tuple[int, str]] = []  # (mtime, name) of the logs that may go
        with os.scandir(fd) as entries:
            for entry in entries:
                if not entry.name.endswith(LOG_SUFFIX):
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    modified = entry.stat(follow_symlinks=False).st_mtime_ns
                except FileNotFoundError:  # deleted meanwhile
                    continue
                count += 1
                if entry.name not in kept:
                    candidates.append((modified, entry.name))
        candidates.sort()
        deleted = [name for _, name in candidates[: max(count - max_logs, 0)]]
        for name in deleted:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)
        return deleted
    finally:
        os.close(fd)
