"""The cargo's size limit, as far as Ship can hold it.

Docker volumes have no size limit of their own, so Ship keeps it: a write or upload
that would take the workspace past the limit is refused before anything is renamed
into place, and while the workspace is over (user code wrote past it) every write
through the API is refused until files are deleted. Usage is measured by walking
the workspace, at most every `refresh_s` seconds.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ship.errors import QuotaExceeded


def measure(root: Path) -> int:
    """Apparent size in bytes of every regular file under `root` (links not followed)."""
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue  # gone meanwhile
            total += info.st_size
    return total


class WorkspaceQuota:
    def __init__(self, root: Path, limit_bytes: int | None, refresh_s: float = 10.0) -> None:
        self.root = root
        self.limit = limit_bytes
        self.refresh_s = refresh_s
        self._usage = 0
        self._measured_at = float("-inf")
        self._lock = threading.Lock()

    def usage(self) -> int:
        with self._lock:
            if time.monotonic() - self._measured_at > self.refresh_s:
                self._usage = measure(self.root)
                self._measured_at = time.monotonic()
            return self._usage

    def room_for(self, target: Path) -> int | None:
        """Bytes a new version of `target` may take; None when there is no limit."""
        if self.limit is None:
            return None
        current = self.usage()
        limit_mb = self.limit // (1024 * 1024)
        if current > self.limit:
            raise QuotaExceeded(
                f"the workspace holds {current} bytes, over its {limit_mb} MB limit: delete "
                "files before writing more",
                {"usage_bytes": current, "limit_bytes": self.limit},
            )
        try:
            replaced = target.lstat().st_size if target.is_file() else 0
        except OSError:
            replaced = 0
        return self.limit - current + replaced

    def refuse(self, needed: int, room: int) -> QuotaExceeded:
        return QuotaExceeded(
            f"writing {needed} bytes would take the workspace past its "
            f"{self.limit // (1024 * 1024) if self.limit else 0} MB limit ({room} bytes left); "
            "nothing was written",
            {"needed_bytes": needed, "room_bytes": room, "limit_bytes": self.limit},
        )

    def written(self, delta: int) -> None:
        with self._lock:
            self._usage += delta
