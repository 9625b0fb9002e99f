"""The sandbox's browser: Debian's Chromium driven by Playwright, one context per sandbox.

Chromium starts on the first browser call and closes after `idle_seconds` without one.
It runs as the sandbox user (Ship has dropped root), inside the container's limits and
network policy. Its own sandbox needs user namespaces, which Docker's default seccomp
profile refuses: it runs with `--no-sandbox`, and the container is the boundary.

The profile (cookies, local storage) lives in `/workspace/.browser`, so a login survives
a stop; downloads are saved to `/workspace/downloads`. `file://` pages outside
/workspace are refused, whether navigated to or linked.

Refs: a snapshot (`page.aria_snapshot(mode="ai")`) marks elements `[ref=e12]`, and
`aria-ref=e12` finds them again. A ref that is not in the page's last snapshot, or a
snapshot taken before the page changed, gives an error that says to take a new one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from ship import paths, protocol
from ship.errors import ShipError
from ship.resources import Cgroup

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Download, Locator, Page, Playwright

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
# --no-sandbox: see the module's docstring. /dev/shm is 64 MB in a container: Chromium
# keeps its shared memory in /tmp instead.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
# A page's JavaScript heap gets this share of the sandbox's memory. Without a cap V8
# sizes it from the host's memory, so a runaway page grows until the kernel kills it at
# the container's limit, after thrashing that stalls Ship's answer too; with one, V8
# ends the tab itself (a crash the next call reports) while the rest has room.
JS_HEAP_SHARE = 3 / 8
MIN_JS_HEAP_MB = 128
PROFILE_DIR = ".browser"
COOKIES_FILE = "bay-cookies.json"
DOWNLOADS_DIR = "downloads"
VIEWPORT = {"width": 1280, "height": 720}
# `e12`, or `f2e12` for an element of a later document or a frame.
_REF = re.compile(r"^@?((?:f\d+)?e\d+)$")
_REFS_IN_SNAPSHOT = re.compile(r"\[ref=((?:f\d+)?e\d+)\]")
MAX_TEXT_CHARS = 200_000
_SETTLE_S = 5.0
# What the end of a call (cookies, title) may take past the steps' deadline: Bay waits
# 15 s beyond the timeout before it gives up on Ship.
FINISH_S = 3.0
T = TypeVar("T")
INTERACTIVE_ROLES = frozenset(
    [
        "button",
        "checkbox",
        "combobox",
        "link",
        "listbox",
        "menuitem",
        "menuitemcheckbox",
        "menuitemradio",
        "option",
        "radio",
        "searchbox",
        "slider",
        "spinbutton",
        "switch",
        "tab",
        "textbox",
        "treeitem",
    ]
)


class BrowserFailed(ShipError):
    """Chromium could not be started: the call fails as a whole."""

    code = "resource_exhausted"
    status = 503


class StepFailed(Exception):
    """One action failed in a way the agent can act on; its message says how."""


def browser_available() -> bool:
    """Whether this image carries Chromium and Playwright (the browser image does)."""
    if not Path(CHROMIUM).exists():
        return False
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return False
    return True


class Browser:
    def __init__(self, workspace: Path, idle_seconds: float) -> None:
        self._workspace = workspace
        self._idle_seconds = idle_seconds
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._refs: set[str] = set()
        self._snapshot_of: Page | None = None  # the page the refs came from
        # What happened since the last call answered: a download or crash that lands
        # between calls is told in the next one.
        self._changes: list[str] = []
        self._downloads: set[asyncio.Task[None]] = set()
        self._download_began = asyncio.Event()
        self._idle: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None
        self._saved_cookies: list[Any] = []

    async def run(self, request: protocol.BrowserRequest) -> protocol.BrowserResult:
        started = time.monotonic()
        deadline = started + request.timeout
        async with self._lock:
            if self._idle is not None:
                self._idle.cancel()
            launched = False
            try:
                if self._context is None and not _only_close(request):
                    await self._start(request.timeout)
                    launched = True
                steps = await self._run_actions(request, deadline)
                await self._settle_downloads(deadline)
                # Both ask the browser: a renderer busy or thrashing at its memory limit
                # may not answer, and the call must still end near its timeout.
                await _within(self._keep_cookies(), deadline)
                page = self._page
                url = page.url if page is not None and not page.is_closed() else None
                title = await _within(_title(page), deadline) if url is not None else None
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
                steps.append(_failed(action.kind, f"no time left (timeout {request.timeout:g} s)"))
                break
            began = time.monotonic()
            try:
                step = await asyncio.wait_for(self._act(action, left), left)
                await self._settle(deadline)
            except TimeoutError:
                step = _failed(action.kind, _timed_out(action, request.timeout))
            except StepFailed as exc:
                step = _failed(action.kind, str(exc))
            except Exception as exc:  # Playwright's errors: the page said no
                step = _failed(action.kind, _playwright_message(exc, action))
            step.execution_time_ms = int((time.monotonic() - began) * 1000)
            steps.append(step)
            if not step.success and request.stop_on_error:
                break
        return steps

    async def _settle(self, deadline: float) -> None:
        """Let a navigation the action started reach its DOM, so the URL and title that
        come back are the new page's (bounded: a slow page does not hold the call)."""
        page = self._page
        left = min(_SETTLE_S, deadline - time.monotonic())
        if page is None or page.is_closed() or left <= 0:
            return
        # Bounded here, not only by Playwright's timeout: that one is kept by the driver,
        # and `evaluate` has none — a renderer stuck in a loop never answers it.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._loaded(page, left), left)

    @staticmethod
    async def _loaded(page: Page, left: float) -> None:
        await page.wait_for_load_state("domcontentloaded", timeout=left * 1000)
        # One round trip through the driver: the events it sent after the action's
        # answer (a download a click started) arrive before this one's.
        await page.evaluate("0")

    # -- lifetime ----------------------------------------------------------------------

    async def _start(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._launch(), timeout)
        except TimeoutError as exc:
            raise BrowserFailed(f"the browser did not start within {timeout:g} s") from exc
        except Exception as exc:
            log.exception("the browser could not start")
            first = _playwright_message(exc, protocol.CloseBrowser()).splitlines()[0]
            raise BrowserFailed(f"the browser could not start: {first}") from exc

    async def _launch(self) -> None:
        from playwright.async_api import async_playwright

        profile = self._workspace / PROFILE_DIR
        profile.mkdir(exist_ok=True)
        # A Chromium killed with its container (a stop) leaves its lock naming a host
        # that is gone; only this Ship's Chromium uses the profile, and none runs now.
        for lock in ("SingletonLock", "SingletonSocket", "SingletonCookie"):
            with contextlib.suppress(FileNotFoundError):
                (profile / lock).unlink()
        started = time.monotonic()
        self._playwright = await async_playwright().start()
        try:
            self._context = await self._playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                headless=True,
                args=[*CHROMIUM_ARGS, *_js_heap_args(Cgroup.detect().memory_limit())],
                accept_downloads=True,
                viewport=VIEWPORT,
            )
        except BaseException:
            await self._playwright.stop()
            self._playwright = None
            raise
        await self._restore_cookies(profile / COOKIES_FILE)
        await self._context.route(re.compile(r"^file:"), self._guard_file_request)
        self._context.on("page", self._watch)
        for page in self._context.pages:
            self._watch(page)
        self._page = self._context.pages[0] if self._context.pages else None
        log.info("browser started in %.2f s", time.monotonic() - started)

    # Chromium writes cookies to its profile lazily (about every 30 s), and a stopped
    # sandbox's container is killed, not asked to close: Ship keeps them itself, after
    # each call that changed them, and gives them back at the next launch.

    async def _keep_cookies(self) -> None:
        if self._context is None:
            return
        try:
            cookies = await self._context.cookies()
        except Exception as exc:  # the browser died under the call: nothing to keep
            log.warning("could not read the browser's cookies: %s", exc)
            return
        if cookies == self._saved_cookies:
            return
        target = self._workspace / PROFILE_DIR / COOKIES_FILE
        await asyncio.to_thread(_write_json, target, cookies)
        self._saved_cookies = cookies

    async def _restore_cookies(self, saved: Path) -> None:
        assert self._context is not None
        cookies = await asyncio.to_thread(_read_json, saved)
        if not isinstance(cookies, list):
            return
        now = time.time()
        # Session cookies (expires -1) come back too: a stop is not the end of the agent's
        # browsing session, and logins often live in them.
        alive = [cookie for cookie in cookies if _alive(cookie, now)]
        with contextlib.suppress(Exception):  # a cookie Chromium refuses is not fatal
            await self._context.add_cookies(alive)
        self._saved_cookies = await self._context.cookies()

    async def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        context, playwright = self._context, self._playwright
        self._context = self._playwright = self._page = None
        self._refs, self._snapshot_of = set(), None
        if context is not None:
            with contextlib.suppress(Exception):
                await context.close()
        if playwright is not None:
            with contextlib.suppress(Exception):
                await playwright.stop()

    def _arm_idle_timer(self) -> None:
        if self._context is None:
            return
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._idle_seconds, self._close_when_idle)

    def _close_when_idle(self) -> None:
        if self._lock.locked():  # a call is running; it arms the timer again
            return
        log.info("browser idle for %g s: closing it", self._idle_seconds)
        self._closing = asyncio.ensure_future(self.close())

    # -- events ------------------------------------------------------------------------

    def _watch(self, page: Page) -> None:
        page.on("download", self._save_download)
        page.on("crash", self._crashed)
        page.on("dialog", lambda dialog: asyncio.ensure_future(self._dismiss(dialog)))
        if self._context is not None and page is not self._page and self._page is not None:
            self._changes.append(f"a new tab opened ({self._context.pages.index(page)})")
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

    async def _guard_file_request(self, route: Any) -> None:
        if _inside_workspace(route.request.url, self._workspace):
            await route.continue_()
        else:
            await route.abort("accessdenied")

    # -- actions -----------------------------------------------------------------------

    async def _act(self, action: protocol.BrowserAction, left: float) -> protocol.BrowserStep:
        timeout_ms = left * 1000
        if isinstance(action, protocol.CloseBrowser):
            was_running = self._context is not None
            await self.close()
            return _done("close", "the browser is closed" if was_running else "no browser ran")
        if isinstance(action, protocol.Tabs):
            return await self._tabs(action, timeout_ms)
        page = await self._current_page()
        if isinstance(action, protocol.Navigate):
            url = self._checked_url(action.url)
            before = page.url
            response = await page.goto(url, timeout=timeout_ms)
            status = f" (HTTP {response.status})" if response is not None else ""
            return _done("navigate", f"{before} → {page.url}{status}")
        if isinstance(action, protocol.Snapshot):
            return _done("snapshot", await self._snapshot(page, action.interactive, timeout_ms))
        if isinstance(action, protocol.Click):
            return await self._click(self._locate(page, action.target), action, left)
        if isinstance(action, protocol.TypeText):
            field = self._locate(page, action.target)
            if action.keystrokes:
                await field.press_sequentially(action.text, timeout=timeout_ms)
            else:
                await field.fill(action.text, timeout=timeout_ms)
            if action.submit:
                await field.press("Enter", timeout=timeout_ms)
            typed = f"typed {len(action.text)} characters into {action.target}"
            return _done("type", typed + (" and pressed Enter" if action.submit else ""))
        if isinstance(action, protocol.Press):
            await page.keyboard.press(action.key)
            return _done("press", f"pressed {action.key}")
        if isinstance(action, protocol.Select):
            chosen = await self._locate(page, action.target).select_option(
                action.values, timeout=timeout_ms
            )
            return _done("select", f"selected {', '.join(chosen)} in {action.target}")
        if isinstance(action, protocol.Screenshot):
            return await self._screenshot(page, action, timeout_ms)
        if isinstance(action, protocol.Read):
            return _done("get", await self._read(page, action, timeout_ms))
        if isinstance(action, protocol.Wait):
            if action.selector:
                await page.locator(action.selector).first.wait_for(timeout=timeout_ms)
                return _done("wait", f"{action.selector} is on the page")
            await asyncio.sleep((action.ms or 0) / 1000)
            return _done("wait", f"waited {action.ms or 0} ms")
        if isinstance(action, protocol.Go):
            move = {"back": page.go_back, "forward": page.go_forward, "reload": page.reload}
            response = await move[action.kind](timeout=timeout_ms)
            if response is None and action.kind != "reload":
                return _done(action.kind, f"no page to go {action.kind} to; still at {page.url}")
            return _done(action.kind, f"at {page.url}")
        if isinstance(action, protocol.Evaluate):
            value = await page.evaluate(action.expression)
            return _done("evaluate", _as_text(value))
        raise StepFailed(f"unknown action {action.kind}")  # pragma: no cover - validated

    async def _click(
        self, target: Locator, action: protocol.Click, left: float
    ) -> protocol.BrowserStep:
        # A link with `download` starts no navigation, so Playwright's click returns at
        # once and the download begins when the server answers: wait for it (bounded),
        # or the call would end before it and report it only in the next one.
        deadline = time.monotonic() + left
        asks_download = await target.evaluate(
            "el => !!el.closest('a[download]')", timeout=left * 1000
        )
        self._download_began.clear()
        await target.click(timeout=left * 1000)
        if not asks_download:
            return _done("click", f"clicked {action.target}")
        wait = max(0.0, min(_SETTLE_S, deadline - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._download_began.wait(), wait)
        if self._download_began.is_set():
            return _done("click", f"clicked {action.target}; a download began")
        return _done(
            "click",
            f"clicked {action.target}; the download it asks for had not begun after "
            f"{wait:.1f} s: a later call's changes report it when it lands",
        )

    async def _current_page(self) -> Page:
        assert self._context is not None
        if self._page is None or self._page.is_closed():
            pages = self._context.pages
            self._page = pages[-1] if pages else await self._context.new_page()
        return self._page

    def _checked_url(self, url: str) -> str:
        if "://" not in url and not url.startswith(("about:", "data:")):
            url = f"http://{url}"  # `example.com`, as a person types it
        if urlsplit(url).scheme == "file" and not _inside_workspace(url, self._workspace):
            raise StepFailed(
                f"{url} is outside /workspace: only files in the workspace can be opened"
            )
        return url

    def _locate(self, page: Page, target: str) -> Locator:
        ref = _REF.match(target.strip())
        if ref is None:
            return page.locator(target).first
        name = ref.group(1)
        seen = name in self._refs and self._snapshot_of is page
        if not seen:
            raise StepFailed(_stale(name))
        return page.locator(f"aria-ref={name}")

    async def _snapshot(self, page: Page, interactive: bool, timeout_ms: float) -> str:
        text = await page.aria_snapshot(mode="ai", timeout=timeout_ms)
        self._refs = set(_REFS_IN_SNAPSHOT.findall(text))
        self._snapshot_of = page
        page.once("framenavigated", lambda frame: self._forget_refs(page, frame))
        if interactive:
            text = "\n".join(line.strip() for line in text.splitlines() if _acts(line))
        return text or "(the page is empty)"

    def _forget_refs(self, page: Page, frame: Any) -> None:
        if frame == page.main_frame and self._snapshot_of is page:
            self._refs, self._snapshot_of = set(), None

    async def _screenshot(
        self, page: Page, action: protocol.Screenshot, timeout_ms: float
    ) -> protocol.BrowserStep:
        png = await page.screenshot(full_page=action.full_page, timeout=timeout_ms, type="png")
        note = f"{len(png)} bytes"
        if action.path:
            target = paths.resolve(self._workspace, action.path)
            target.real.parent.mkdir(parents=True, exist_ok=True)
            target.real.write_bytes(png)
            note += f", saved to {target.relative}"
        return protocol.BrowserStep(
            kind="screenshot",
            success=True,
            output=f"screenshot of {page.url} ({note})",
            screenshot=base64.b64encode(png).decode(),
        )

    async def _read(self, page: Page, action: protocol.Read, timeout_ms: float) -> str:
        if action.what == "url":
            return str(page.url)
        if action.what == "title":
            return str(await page.title())
        if action.target:
            text = await self._locate(page, action.target).inner_text(timeout=timeout_ms)
        else:
            text = await page.locator("body").inner_text(timeout=timeout_ms)
        return str(text)[:MAX_TEXT_CHARS]

    async def _tabs(self, action: protocol.Tabs, timeout_ms: float) -> protocol.BrowserStep:
        assert self._context is not None
        if action.action == "new":
            self._page = await self._context.new_page()
            if action.url:
                await self._page.goto(self._checked_url(action.url), timeout=timeout_ms)
        elif action.action in ("select", "close"):
            pages = self._context.pages
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
        for number, page in enumerate(self._context.pages):
            mark = "*" if page is self._page else " "
            lines.append(f"{mark} {number}: {await _title(page)} — {page.url}")
        return _done("tabs", "\n".join(lines) or "no tabs")


def _js_heap_args(memory_limit: int | None) -> list[str]:
    """Chromium's flag capping a page's JavaScript heap (see JS_HEAP_SHARE)."""
    if memory_limit is None:
        return []
    megabytes = max(MIN_JS_HEAP_MB, int(memory_limit * JS_HEAP_SHARE) // 2**20)
    return [f"--js-flags=--max-old-space-size={megabytes}"]


def _write_json(target: Path, value: Any) -> None:
    staged = target.with_suffix(".tmp")
    staged.write_text(json.dumps(value))
    staged.replace(target)


def _alive(cookie: dict[str, Any], now: float) -> bool:
    expires = cookie.get("expires", -1)
    return bool(expires == -1 or expires > now)


def _read_json(source: Path) -> Any:
    try:
        return json.loads(source.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _acts(line: str) -> bool:
    """Whether a snapshot line is an element one can act on (AI snapshots give every
    element a ref, headings and containers included)."""
    role = line.strip().removeprefix("- ").split(" ", 1)[0].rstrip(":")
    return role in INTERACTIVE_ROLES and "[ref=" in line


def _only_close(request: protocol.BrowserRequest) -> bool:
    return all(isinstance(action, protocol.CloseBrowser) for action in request.actions)


def _inside_workspace(url: str, workspace: Path) -> bool:
    if urlsplit(url).scheme != "file":
        return True
    path = Path(unquote(urlsplit(url).path))
    try:
        path.resolve().relative_to(workspace.resolve())
    except ValueError:
        return False
    return True


async def _within(work: Awaitable[T], deadline: float) -> T | None:
    """`work`'s answer, or None when it has none by the deadline (at least FINISH_S
    from now: the steps may have used the whole timeout)."""
    try:
        return await asyncio.wait_for(work, max(FINISH_S, deadline - time.monotonic()))
    except TimeoutError:
        log.warning("the browser did not answer in time; the call ends without it")
        return None


async def _title(page: Page | None) -> str | None:
    if page is None or page.is_closed():
        return None
    try:
        return str(await page.title())
    except Exception:  # navigating: no title yet
        return None


def _done(kind: str, output: str) -> protocol.BrowserStep:
    return protocol.BrowserStep(kind=kind, success=True, output=output)


def _failed(kind: str, error: str) -> protocol.BrowserStep:
    return protocol.BrowserStep(kind=kind, success=False, error=error)


def _stale(ref: str) -> str:
    return (
        f"ref {ref} is not on the page as last seen (the page changed, or the ref is not "
        "from its latest snapshot): take a new snapshot (browser_snapshot) and use its refs"
    )


def _timed_out(action: protocol.BrowserAction, timeout: float) -> str:
    target = getattr(action, "target", None)
    if target and _REF.match(target):
        return f"{action.kind} on {target} did not finish within {timeout:g} s. " + _stale(
            target.lstrip("@")
        )
    return f"{action.kind} did not finish within {timeout:g} s"


def _playwright_message(exc: Exception, action: protocol.BrowserAction) -> str:
    message = str(exc).split("\nCall log:", 1)[0].strip()
    message = message.removeprefix("Error: ").strip()
    target = getattr(action, "target", None)
    if "Timeout" in type(exc).__name__ or "Timeout" in message.split(":", 1)[0]:
        if target and _REF.match(target):
            return _stale(target.lstrip("@"))
        return f"{action.kind} timed out: {message}"
    if "not found in the current page snapshot" in message and target:
        return _stale(target.lstrip("@"))
    return message or type(exc).__name__


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value[:MAX_TEXT_CHARS]
    try:
        return json.dumps(value, ensure_ascii=False)[:MAX_TEXT_CHARS]
    except (TypeError, ValueError):
        return repr(value)[:MAX_TEXT_CHARS]
