"""What changed, told to whoever watches: a run, a file call, an upload or a restore
changed a sandbox's cargo; a sandbox was made or removed (the owner's resource list);
a skill was released or withdrawn (the owner's prompts and resources).

The services publish here and know nothing of who listens; a surface subscribes (the
MCP server turns these into `notifications/resources/updated` and list-changed). So a
change made over REST reaches an MCP subscriber the same as one made over MCP.

Across replicas on PostgreSQL, `services/change_feed.py` sends each change made here to
the other Bays (`fan_out`) and tells the listeners here what they sent (`arrived`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from bay_mcp.services.output import cargo_uri

log = logging.getLogger(__name__)

# A run that writes a thousand files must not send a thousand notifications: each
# sandbox names at most this many files per window; past it, only its cargo root
# (which every change names) tells that something changed.
FILES_PER_WINDOW = 100
WINDOW_SECONDS = 1.0


@dataclass(frozen=True)
class CargoChanged:
    """Files of a sandbox's cargo changed: `uris` are theirs (`cargo://{id}/{path}`,
    coalesced), then the cargo root's (`cargo://{id}/`), always last."""

    owner: str
    sandbox_id: str
    uris: tuple[str, ...]


@dataclass(frozen=True)
class ListChanged:
    """An owner's list of `what` changed (resources: a sandbox made or removed, a
    skill released; prompts: a skill released or withdrawn)."""

    owner: str
    what: Literal["resources", "prompts"]


Change = CargoChanged | ListChanged
Listener = Callable[[Change], Awaitable[None]]


class _Window:
    __slots__ = ("named", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.named = 0


class Changes:
    """The publisher the services call; listeners subscribe. A listener must not
    block (queue, do not send): a publisher is a request waiting for its answer."""

    def __init__(
        self,
        *,
        files_per_window: int = FILES_PER_WINDOW,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._listeners: dict[object, Listener] = {}
        self._files_per_window = files_per_window
        self._window_seconds = window_seconds
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        # Across replicas (services/change_feed.py): where this Bay's changes are sent.
        self._fan_out: Listener | None = None

    @property
    def fanning_out(self) -> bool:
        return self._fan_out is not None

    def fan_out(self, send: Listener | None) -> None:
        """Send every change made here to `send` too (None: stop)."""
        self._fan_out = send

    async def arrived(self, change: Change) -> None:
        """A change made through another replica: told to the listeners here."""
        await self._tell_here(change)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Tell `listener` every change from now; the callable returned stops it."""
        token = object()
        self._listeners[token] = listener

        def stop() -> None:
            self._listeners.pop(token, None)

        return stop

    async def files(self, owner: str, sandbox_id: str, paths: Iterable[str]) -> None:
        """`paths` (relative to /workspace) changed in the sandbox's cargo; an empty
        `paths` says something did, not what (a restore, a listing cut short)."""
        if not self._listeners and self._fan_out is None:
            return
        named = self._within_window(sandbox_id, dict.fromkeys(p for p in paths if p))
        uris = (*(cargo_uri(sandbox_id, path) for path in named), cargo_uri(sandbox_id, ""))
        await self._tell(CargoChanged(owner, sandbox_id, uris))

    async def sandboxes(self, owner: str) -> None:
        """One of the owner's sandboxes was made or removed."""
        await self._tell(ListChanged(owner, "resources"))

    async def skills(self, owner: str) -> None:
        """The owner's released skills changed: prompts and resources list them."""
        await self._tell(ListChanged(owner, "prompts"))
        await self._tell(ListChanged(owner, "resources"))

    def _within_window(self, sandbox_id: str, paths: dict[str, None]) -> list[str]:
        now = self._clock()
        window = self._windows.get(sandbox_id)
        if window is None or now - window.started >= self._window_seconds:
            window = self._windows[sandbox_id] = _Window(now)
            # Old windows go with the next new one: the map holds recent sandboxes only.
            for stale in [k for k, w in self._windows.items() if now - w.started > 60]:
                del self._windows[stale]
        room = max(0, self._files_per_window - window.named)
        named = list(paths)[:room]
        window.named += len(named)
        if len(paths) > len(named):
            log.info(
                "sandbox %s: %d changed files past %d a window, told as its cargo root",
                sandbox_id,
                len(paths) - len(named),
                self._files_per_window,
            )
        return named

    async def _tell(self, change: Change) -> None:
        await self._tell_here(change)
        if self._fan_out is not None:
            try:
                await self._fan_out(change)
            except Exception:  # other replicas miss it; this request must not fail for it
                log.exception("could not send a change to the other replicas")

    async def _tell_here(self, change: Change) -> None:
        for listener in list(self._listeners.values()):
            try:
                await listener(change)
            except Exception:  # one broken listener must not fail the change's request
                log.exception("a change listener failed")
