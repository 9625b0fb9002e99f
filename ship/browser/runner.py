"""The `Browser` a call goes through: its actions in order under one lock, within its timeout.

Chromium is started on the first call and closed when idle; its pages and tabs are
followed, and what happened between actions (a new tab, a download, a crash, a dialog)
is told in the call's changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ship import protocol
from ship.browser.actions import SETTLE_S, act, done, failed
from ship.browser.guards import (
    FILE_URLS,
    Refs,
    StepFailed,
    checked_url,
    file_guard,
    playwright_message,
    timed_out,
)
from ship.browser.process import BrowserFailed, Chromium

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Download, Page

log = logging.getLogger(__name__)

DOWNLOADS_DIR = "downloads"
# What the end of a call (cookies, title) may take past the steps' deadline: Bay waits
# 15 s beyond the timeout before it gives up on Ship.
FINISH_S = 3.0
T = TypeVar("T")


class Browser:
    def __init__(self, workspace: Path, idle_seconds: float) -> None:
        self._workspace = workspace
        self._idle_seconds = idle_seconds
        self._lock = asyncio.Lock()
        self._chromium: Chromium | None = None
        self._page: Page | None = None
        self._refs = Refs()
        # What happened since the last call answered: a download or crash that lands
        # between calls is told in the next one.
        self._changes: list[str] = []
        self._downloads: set[asyncio.Task[None]] = set()
        self._download_began = asyncio.Event()
        self._idle: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    @property
    def _context(self) -> BrowserContext | None:
        return self._chromium.context if self._chromium is not None else None

    async def run(self, request: protocol.BrowserRequest) -> protocol.BrowserResult:
        started = time.monotonic()
        deadline = started + request.timeout
        async with self._lock:
            if self._idle is not None:
                self._idle.cancel()
            launched = False
            try:
                if self._chromium is None and not only_close(request):
                    await self._start(request.timeout)
                    launched = True
                steps = await self._run_actions(request, deadline)
                await self._settle_downloads(deadline)
                # Both ask the browser: a renderer busy or thrashing at its memory limit
                # may not answer, and the call must still end near its timeout.
                if self._chromium is not None:
                    await within(self._chromium.keep_cookies(), deadline)
                page = self._page
                url = page.url if page is not None and not page.is_closed() else None
                title = await within(title_of(page), deadline) if url is not None else None
            finally:
                self._arm_idle_timer()
            changes, self._changes = self._changes, []
        return protocol.BrowserResult(
            steps=steps,
            url=url,
            title=title,
            changes=changes,
            launched=launched,
            execution_time_ms=int((time.monotonic() - started) * 1000),
        )

    async def _run_actions(
        self, request: protocol.BrowserRequest, deadline: float
    ) -> list[protocol.BrowserStep]:
        steps: list[protocol.BrowserStep] = []
        for action in request.actions:
            left = deadline - time.monotonic()
            if left <= 0:
                steps.append(failed(action.kind, f"no time left (timeout {request.timeout:g} s)"))
                break
            began = time.monotonic()
            try:
                step = await asyncio.wait_for(self._act(action, left), left)
                await self._settle(deadline)
            except TimeoutError:
                step = failed(action.kind, timed_out(action, request.timeout))
            except StepFailed as exc:
                step = failed(action.kind, str(exc))
            except Exception as exc:  # Playwright's errors: the page said no
                step = failed(action.kind, playwright_message(exc, action))
            step.execution_time_ms = int((time.monotonic() - began) * 1000)
            steps.append(step)
            if not step.success and request.stop_on_error:
                break
        return steps

    async def _act(self, action: protocol.BrowserAction, left: float) -> protocol.BrowserStep:
        if isinstance(action, protocol.CloseBrowser):
            was_running = self._chromium is not None
            await self.close()
            return done("close", "the browser is closed" if was_running else "no browser ran")
        if isinstance(action, protocol.Tabs):
            return await self._tabs(action, left * 1000)
        page = await self._current_page()
        return await act(
            page,
            action,
            left,
            refs=self._refs,
            workspace=self._workspace,
            download_began=self._download_began,
        )

    async def _settle(self, deadline: float) -> None:
        """Let a navigation the action started reach its DOM, so the URL and title that
        come back are the new page's (bounded: a slow page does not hold the call)."""
        page = self._page
        left = min(SETTLE_S, deadline - time.monotonic())
        if page is None or page.is_closed() or left <= 0:
            return
        # Bounded here, not only by Playwright's timeout: that one is kept by the driver,
        # and `evaluate` has none — a renderer stuck in a loop never answers it.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_loaded(page, left), left)

    # -- lifetime ----------------------------------------------------------------------

    async def _start(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._launch(), timeout)
        except TimeoutError as exc:
            raise BrowserFailed(f"the browser did not start within {timeout:g} s") from exc
        except Exception as exc:
            log.exception("the browser could not start")
            first = playwright_message(exc, protocol.CloseBrowser()).splitlines()[0]
            raise BrowserFailed(f"the browser could not start: {first}") from exc

    async def _launch(self) -> None:
        started = time.monotonic()
        chromium = await Chromium.launch(self._workspace)
        try:
            context = chromium.context
            await context.route(FILE_URLS, file_guard(self._workspace))
            context.on("page", self._watch)
            self._chromium = chromium
            for page in context.pages:
                self._watch(page)
        except BaseException:
            self._chromium = None
            await chromium.close()
            raise
        self._page = context.pages[0] if context.pages else None
        log.info("browser started in %.2f s", time.monotonic() - started)

    async def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        chromium, self._chromium, self._page = self._chromium, None, None
        self._refs.forget()
        if chromium is not None:
            await chromium.close()

    def _arm_idle_timer(self) -> None:
        if self._chromium is None:
            return
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._idle_seconds, self._close_when_idle)

    def _close_when_idle(self) -> None:
        if self._lock.locked():  # a call is running; it arms the timer again
            return
        log.info("browser idle for %g s: closing it", self._idle_seconds)
        self._closing = asyncio.ensure_future(self.close())

    # -- pages and their events --------------------------------------------------------

    async def _current_page(self) -> Page:
        context = self._context
        assert context is not None
        if self._page is None or self._page.is_closed():
            pages = context.pages
            self._page = pages[-1] if pages else await context.new_page()
        return self._page

    async def _tabs(self, action: protocol.Tabs, timeout_ms: float) -> protocol.BrowserStep:
        context = self._context
        assert context is not None
        if action.action == "new":
            self._page = await context.new_page()
            if action.url:
                url = checked_url(action.url, self._workspace)
                await self._page.goto(url, timeout=timeout_ms)
        elif action.action in ("select", "close"):
            pages = context.pages
            index = len(pages) - 1 if action.index is None else action.index
            if not 0 <= index < len(pages):
                raise StepFailed(f"no tab {index}: there are {len(pages)} (0–{len(pages) - 1})")
            if action.action == "select":
                self._page = pages[index]
                await self._page.bring_to_front()
            else:
                await pages[index].close()
                self._page = None
                await self._current_page()
        lines = []
        for number, page in enumerate(context.pages):
            mark = "*" if page is self._page else " "
            lines.append(f"{mark} {number}: {await title_of(page)} — {page.url}")
        return done("tabs", "\n".join(lines) or "no tabs")

    def _watch(self, page: Page) -> None:
        page.on("download", self._save_download)
        page.on("crash", self._crashed)
        page.on("dialog", lambda dialog: asyncio.ensure_future(self._dismiss(dialog)))
        context = self._context
        if context is not None and page is not self._page and self._page is not None:
            self._changes.append(f"a new tab opened ({context.pages.index(page)})")
            self._page = page

    def _crashed(self, page: Page) -> None:
        # A renderer killed (out of memory, most often): the tab is dead; the next action
        # opens a fresh one.
        self._changes.append(f"the tab with {page.url} crashed (out of memory?) and was closed")
        if page is self._page:
            self._page = None
        self._closing = asyncio.ensure_future(page.close())

    async def _dismiss(self, dialog: Any) -> None:
        self._changes.append(f'a {dialog.type} dialog said "{dialog.message[:200]}" (dismissed)')
        with contextlib.suppress(Exception):
            await dialog.dismiss()

    def _save_download(self, download: Download) -> None:
        self._download_began.set()
        task = asyncio.ensure_future(self._store(download))
        self._downloads.add(task)
        task.add_done_callback(self._downloads.discard)

    async def _store(self, download: Download) -> None:
        folder = self._workspace / DOWNLOADS_DIR
        folder.mkdir(exist_ok=True)
        name = Path(download.suggested_filename).name or "download"
        target = folder / name
        counter = 1
        while target.exists():
            target = folder / f"{Path(name).stem}-{counter}{Path(name).suffix}"
            counter += 1
        try:
            await download.save_as(target)
        except Exception as exc:
            self._changes.append(f"a download of {name} failed: {exc}")
            return
        self._changes.append(f"downloaded {DOWNLOADS_DIR}/{target.name}")

    async def _settle_downloads(self, deadline: float) -> None:
        pending = {task for task in self._downloads if not task.done()}
        if pending:
            await asyncio.wait(pending, timeout=max(0.1, deadline - time.monotonic()))


async def _loaded(page: Page, left: float) -> None:
    await page.wait_for_load_state("domcontentloaded", timeout=left * 1000)
    # One round trip through the driver: the events it sent after the action's
    # answer (a download a click started) arrive before this one's.
    await page.evaluate("0")


def only_close(request: protocol.BrowserRequest) -> bool:
    return all(isinstance(action, protocol.CloseBrowser) for action in request.actions)


async def within(work: Awaitable[T], deadline: float) -> T | None:
    """`work`'s answer, or None when it has none by the deadline (at least FINISH_S
    from now: the steps may have used the whole timeout)."""
    try:
        return await asyncio.wait_for(work, max(FINISH_S, deadline - time.monotonic()))
    except TimeoutError:
        log.warning("the browser did not answer in time; the call ends without it")
        return None


async def title_of(page: Page | None) -> str | None:
    if page is None or page.is_closed():
        return None
    try:
        return str(await page.title())
    except Exception:  # navigating: no title yet
        return None
