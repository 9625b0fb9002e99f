"""What a destructive step would lose, said as the question a person confirms.

Three steps lose what nothing else holds: deleting a sandbox whose managed cargo has
files (an external cargo outlives it), restoring a snapshot over files changed since
it was taken, and deleting a snapshot. Each answers with the question to ask, or None
when nothing would be lost; the surfaces decide whether and how to ask (MCP asks by
elicitation, `mcp/confirmations.py`; REST never asks).

Files are counted by walking /workspace one listing at a time, through the running
session or the cargo at rest, never by starting the sandbox; the walk is bounded
(`MAX_LISTINGS` directories), and a count it could not finish says "at least". A file
counts as changed since a snapshot when its modification time is later than the
snapshot's: a tool that sets old times on what it writes (`tar -x`, `cp -p`) hides it.
Ship's own files (the skills it installs at start, as its manifest lists them, and the
manifest) are not counted: Ship makes them again.

A fork copies the files it starts from and keeps no link to its snapshot, and Bay
records no lineage: whether a fork still holds a snapshot's files cannot be known, so
deleting any non-empty snapshot asks (it is the only copy Bay knows of).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bay_mcp.errors import BayError, NotFound
from bay_mcp.limits import MB
from bay_mcp.services.files import FileService
from bay_mcp.services.sandboxes import SandboxService
from bay_mcp.services.snapshots import SnapshotService
from bay_mcp.services.views import DirectoryListing, SnapshotView
from ship.skills import MANIFEST as SKILLS_MANIFEST
from ship.skills import SKILLS_DIR

log = logging.getLogger(__name__)

# Directories listed, at most, to count what a step would lose (one Ship call each).
MAX_LISTINGS = 200
# Changed files named in a question; the rest are counted.
NAMED_FILES = 5
IRREVERSIBLE = "This cannot be undone."


@dataclass
class Tally:
    """Files under /workspace as a bounded walk found them."""

    files: int = 0
    size_bytes: int = 0
    newer: list[str] = field(default_factory=list)  # modified after `since`, by path
    complete: bool = True


class ConfirmationService:
    def __init__(
        self, sandboxes: SandboxService, files: FileService, snapshots: SnapshotService
    ) -> None:
        self._sandboxes = sandboxes
        self._files = files
        self._snapshots = snapshots

    async def before_sandbox_delete(self, owner: str, sandbox_id: str) -> str | None:
        """The question before deleting the sandbox, or None when nothing would be lost
        (an empty or external cargo, and no snapshots). NotFound."""
        _, cargo, _ = await self._sandboxes.catalogue.row_for_a_call(owner, sandbox_id)
        snapshots = (await self._snapshots.list(owner, sandbox_id)).snapshots
        with_snapshots = (
            f" Its {_count(len(snapshots), 'snapshot')} "
            f"({_size(sum(s.size_bytes for s in snapshots))}) "
            f"{'is' if len(snapshots) == 1 else 'are'} deleted with it."
            if snapshots
            else ""
        )
        if cargo is not None and not cargo.managed:
            if not snapshots:
                return None
            return (
                f"Delete sandbox {sandbox_id}? Its files stay in cargo {cargo.id}, which "
                f"outlives it.{with_snapshots} {IRREVERSIBLE}"
            )
        tally = await self._walk(owner, sandbox_id)
        if tally is not None and tally.files == 0 and not snapshots:
            return None
        if tally is None:
            files = "all its files in /workspace (not counted: the sandbox is stopped)"
        else:
            whose = "its " if tally.complete else "at least "
            counted = f"{_count(tally.files, 'file')} ({_size(tally.size_bytes)})"
            files = f"{whose}{counted} in /workspace"
        return f"Delete sandbox {sandbox_id} and {files}?{with_snapshots} {IRREVERSIBLE}"

    async def before_restore(self, owner: str, sandbox_id: str, snapshot_id: str) -> str | None:
        """The question before restoring the snapshot, or None when no file changed
        since it was taken. NotFound."""
        snapshot = await self._snapshots.get(owner, sandbox_id, snapshot_id)
        tally = await self._walk(owner, sandbox_id, since=snapshot.created_at)
        if tally is not None and not tally.newer:
            return None
        restore = f"Restore snapshot {_named(snapshot)} into sandbox {sandbox_id}?"
        if tally is None:
            lost = (
                "Files made or changed in /workspace since then are lost (not counted: the "
                "sandbox is stopped)."
            )
        else:
            shown = ", ".join(tally.newer[:NAMED_FILES])
            more = len(tally.newer) - NAMED_FILES
            shown += f" and {more} more" if more > 0 else ""
            lost = (
                f"{_at_least(tally).capitalize()}{_count(len(tally.newer), 'file')} made or "
                f"changed in /workspace since then will be lost: {shown}."
            )
        return f"{restore} {lost} Python variables are lost too (the sandbox restarts)."

    async def before_snapshot_delete(
        self, owner: str, sandbox_id: str, snapshot_id: str
    ) -> str | None:
        """The question before deleting the snapshot, or None when it holds no files.
        NotFound."""
        snapshot = await self._snapshots.get(owner, sandbox_id, snapshot_id)
        if snapshot.size_bytes == 0:
            return None
        return (
            f"Delete snapshot {_named(snapshot)} of sandbox {sandbox_id}? It is the only copy "
            "of the files as they were then (forks made from it are copies that may have "
            f"changed since). {IRREVERSIBLE}"
        )

    async def _walk(
        self, owner: str, sandbox_id: str, since: datetime | None = None
    ) -> Tally | None:
        """Count the files under /workspace (and those modified after `since`), or None
        when only starting the sandbox could list them. Ship's own files are left out."""
        tally = Tally()
        waiting = deque(["."])
        listed = 0
        maybe_ships: dict[str, int] = {}  # path -> size, of files Ship may have made
        while waiting:
            if listed == MAX_LISTINGS:
                tally.complete = False
                break
            path = waiting.popleft()
            try:
                listing = await self._files.listing_without_starting(owner, sandbox_id, path)
            except NotFound:
                if path == ".":
                    raise
                continue  # gone while we walked
            if listing is None:
                return None
            listed += 1
            _tally(listing, tally, since, waiting, maybe_ships)
        if SKILLS_MANIFEST in maybe_ships:
            for path in await self._installed_skills(owner, sandbox_id) & maybe_ships.keys():
                tally.files -= 1
                tally.size_bytes -= maybe_ships[path]
                if path in tally.newer:
                    tally.newer.remove(path)
        tally.newer.sort()
        return tally

    async def _installed_skills(self, owner: str, sandbox_id: str) -> set[str]:
        """The files Ship installed at start (the skills its manifest lists, and the
        manifest): it makes them again, so they are not lost. Empty when the manifest
        cannot be read: then they count (asking once too often is the safe side)."""
        try:
            read = await self._files.read_resource(owner, sandbox_id, SKILLS_MANIFEST)
            manifest = json.loads(read.content)
            installed = {
                f"{SKILLS_DIR}/{name}/{relative}"
                for name, hashes in manifest.items()
                for relative in hashes
            }
        except (BayError, ValueError, TypeError, AttributeError) as exc:
            log.info("sandbox %s: Ship's skill manifest not read (%r); counted", sandbox_id, exc)
            return set()
        return installed | {SKILLS_MANIFEST}


def _tally(
    listing: DirectoryListing,
    tally: Tally,
    since: datetime | None,
    waiting: deque[str],
    maybe_ships: dict[str, int],
) -> None:
    for entry in listing.entries:
        if entry.type == "directory":
            waiting.append(entry.path)
            continue
        tally.files += 1
        tally.size_bytes += entry.size
        if entry.path == SKILLS_MANIFEST or entry.path.startswith(SKILLS_DIR + "/"):
            maybe_ships[entry.path] = entry.size
        if since is not None and _modified_after(entry.modified_time, since):
            tally.newer.append(entry.path)


def _modified_after(modified_time: str | None, since: datetime) -> bool:
    """Whether a listing's time is after `since`; a time that cannot be read counts as
    changed (asking once too often beats losing a file unasked)."""
    if modified_time is None:
        return True
    try:
        moment = datetime.fromisoformat(modified_time.replace("Z", "+00:00"))
    except ValueError:
        return True
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment > (since if since.tzinfo else since.replace(tzinfo=UTC))


def _named(snapshot: SnapshotView) -> str:
    label = f"'{snapshot.name}', " if snapshot.name else ""
    taken = snapshot.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{snapshot.id} ({label}{_size(snapshot.size_bytes)}, taken {taken})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _at_least(tally: Tally) -> str:
    return "" if tally.complete else "at least "


def _size(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} bytes"
    if size_bytes < MB:
        return f"{size_bytes / 1024:.1f} KB"
    return f"{size_bytes / MB:.1f} MB"
