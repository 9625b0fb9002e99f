"""Browser guards: file URLs kept in /workspace, refs held to the last snapshot, errors worded.

Playwright's errors are worded for an agent: a stale ref says to take a new snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ship import protocol

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

# `e12`, or `f2e12` for an element of a later document or a frame.
REF = re.compile(r"^@?((?:f\d+)?e\d+)$")
REFS_IN_SNAPSHOT = re.compile(r"\[ref=((?:f\d+)?e\d+)\]")
FILE_URLS = re.compile(r"^file:")


class StepFailed(Exception):
    """One action failed in a way the agent can act on; its message says how."""


# -- files -------------------------------------------------------------------------------


def inside_workspace(url: str, workspace: Path) -> bool:
    """Whether `url` may be opened: any URL but a `file://` one outside the workspace."""
    if urlsplit(url).scheme != "file":
        return True
    path = Path(unquote(urlsplit(url).path))
    try:
        path.resolve().relative_to(workspace.resolve())
    except ValueError:
        return False
    return True


def checked_url(url: str, workspace: Path) -> str:
    """The URL to open for what an agent typed; StepFailed for a file outside /workspace."""
    if "://" not in url and not url.startswith(("about:", "data:")):
        url = f"http://{url}"  # `example.com`, as a person types it
    if urlsplit(url).scheme == "file" and not inside_workspace(url, workspace):
        raise StepFailed(f"{url} is outside /workspace: only files in the workspace can be opened")
    return url


def file_guard(workspace: Path) -> Callable[[Any], Awaitable[None]]:
    """A route handler for `file:` requests (linked, not only navigated to): those inside
    the workspace go on, the rest are refused."""

    async def guard(route: Any) -> None:
        if inside_workspace(route.request.url, workspace):
            await route.continue_()
        else:
            await route.abort("accessdenied")

    return guard


# -- refs --------------------------------------------------------------------------------


class Refs:
    """The refs of the last snapshot and the page they came from; forgotten when that
    page navigates, so a ref never finds an element of another document."""

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._page: Page | None = None

    def remember(self, page: Page, snapshot: str) -> None:
        self._names = set(REFS_IN_SNAPSHOT.findall(snapshot))
        self._page = page
        page.once("framenavigated", lambda frame: self._forget_on(page, frame))

    def forget(self) -> None:
        self._names, self._page = set(), None

    def _forget_on(self, page: Page, frame: Any) -> None:
        if frame == page.main_frame and self._page is page:
            self.forget()

    def locate(self, page: Page, target: str) -> Locator:
        """The element a target names: a ref of the last snapshot, or a CSS selector."""
        ref = REF.match(target.strip())
        if ref is None:
            return page.locator(target).first
        name = ref.group(1)
        seen = name in self._names and self._page is page
        if not seen:
            raise StepFailed(stale(name))
        return page.locator(f"aria-ref={name}")


# -- failures in words -------------------------------------------------------------------


def stale(ref: str) -> str:
    return (
        f"ref {ref} is not on the page as last seen (the page changed, or the ref is not "
        "from its latest snapshot): take a new snapshot (browser_snapshot) and use its refs"
    )


def timed_out(action: protocol.BrowserAction, timeout: float) -> str:
    target = getattr(action, "target", None)
    if target and REF.match(target):
        return f"{action.kind} on {target} did not finish within {timeout:g} s. " + stale(
            target.lstrip("@")
        )
    return f"{action.kind} did not finish within {timeout:g} s"


def playwright_message(exc: Exception, action: protocol.BrowserAction) -> str:
    """A Playwright error as the agent should read it (no call log; a ref's timeout is
    its staleness)."""
    message = str(exc).split("\nCall log:", 1)[0].strip()
    message = message.removeprefix("Error: ").strip()
    target = getattr(action, "target", None)
    if "Timeout" in type(exc).__name__ or "Timeout" in message.split(":", 1)[0]:
        if target and REF.match(target):
            return stale(target.lstrip("@"))
        return f"{action.kind} timed out: {message}"
    if "not found in the current page snapshot" in message and target:
        return stale(target.lstrip("@"))
    return message or type(exc).__name__
