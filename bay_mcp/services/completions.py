"""Completions: what a host may offer as a person types an argument (a sandbox id, a
profile, a path in a cargo), always the caller's own, bounded and cheap.

Each answer costs at most one database query (sandbox ids) or one directory listing
(paths, read through the running session or the cargo at rest, never by starting a
stopped sandbox). A completion is a hint, not a call: whatever cannot be completed
(another owner's sandbox, a bad path, a sandbox only starting could list) answers no
values rather than an error, so nothing about other owners' sandboxes leaks through it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bay_mcp.errors import BayError

if TYPE_CHECKING:
    from bay_mcp.services.files import FileService
    from bay_mcp.services.sandboxes import SandboxService

# The protocol's bound on the values of one answer.
MAX_VALUES = 100


@dataclass(frozen=True)
class Choices:
    """One answer: at most MAX_VALUES values; `total` when it is known, `has_more` when
    values were left out."""

    values: list[str]
    total: int | None = None
    has_more: bool = False


NONE = Choices(values=[], total=0)


def bounded(values: Iterable[str], prefix: str = "") -> Choices:
    """The values starting with `prefix`, in their order, cut at MAX_VALUES."""
    kept = [value for value in values if value.startswith(prefix)]
    return Choices(values=kept[:MAX_VALUES], total=len(kept), has_more=len(kept) > MAX_VALUES)


class CompletionService:
    def __init__(self, sandboxes: SandboxService, files: FileService) -> None:
        self._sandboxes = sandboxes
        self._files = files

    async def sandbox_ids(self, owner: str, prefix: str) -> Choices:
        """The owner's usable sandboxes whose id starts with `prefix`, newest first (the
        one a person just created is the likely one)."""
        ids = await self._sandboxes.ids_newest_first(owner, prefix, MAX_VALUES + 1)
        if len(ids) > MAX_VALUES:  # the total would cost a count: unknown
            return Choices(values=ids[:MAX_VALUES], has_more=True)
        return Choices(values=ids, total=len(ids))

    def profile_ids(self, prefix: str) -> Choices:
        return bounded((profile.id for profile in self._sandboxes.profiles()), prefix)

    async def paths(self, owner: str, sandbox_id: str | None, prefix: str) -> Choices:
        """Paths in the sandbox's /workspace continuing `prefix` (relative, as the tools
        take them): the entries of the prefix's directory whose names continue its last
        part, directories ending in "/" so the next completion descends. No values
        without a sandbox of the owner's, or when only starting the sandbox could list
        it."""
        if not sandbox_id:
            return NONE
        directory, partial = posixpath.split(prefix)
        try:
            listing = await self._files.listing_without_starting(
                owner, sandbox_id, directory or "."
            )
        except BayError:  # not the owner's, deleted, expired, a bad path, not a directory
            return NONE
        if listing is None:
            return NONE
        entries = sorted(
            (entry for entry in listing.entries if _offered(entry.name, partial)),
            key=lambda entry: (not entry.is_dir, entry.name),
        )
        return bounded(
            posixpath.join(directory, entry.name) + ("/" if entry.is_dir else "")
            for entry in entries
        )


def _offered(name: str, partial: str) -> bool:
    """Whether an entry continues what was typed; dot files only once a dot is typed,
    as a shell completes them."""
    return name.startswith(partial) and (partial.startswith(".") or not name.startswith("."))
