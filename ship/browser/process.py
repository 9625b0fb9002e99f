"""Chromium's process: launched by Playwright on the sandbox's profile, its cookies kept, closed.

Found in the image (or not), its JavaScript heap capped below the sandbox's memory.

It runs with `--no-sandbox` (see the package's docstring): the container is the boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ship.errors import ShipError
from ship.resources import Cgroup

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Playwright, ViewportSize

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
# --no-sandbox: see the package's docstring. /dev/shm is 64 MB in a container: Chromium
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
VIEWPORT: ViewportSize = {"width": 1280, "height": 720}


class BrowserFailed(ShipError):
    """Chromium could not be started: the call fails as a whole."""

    code = "resource_exhausted"
    status = 503


def browser_available() -> bool:
    """Whether this image carries Chromium and Playwright (the browser image does)."""
    if not Path(CHROMIUM).exists():
        return False
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return False
    return True


class Chromium:
    """One Chromium and its persistent context on the sandbox's profile."""

    def __init__(self, playwright: Playwright, context: BrowserContext, profile: Path) -> None:
        self._playwright = playwright
        self.context = context
        self._profile = profile
        self._saved_cookies: list[Any] = []

    @classmethod
    async def launch(cls, workspace: Path) -> Chromium:
        """Start Playwright and Chromium, and give back the cookies a stop kept."""
        from playwright.async_api import async_playwright

        profile = workspace / PROFILE_DIR
        profile.mkdir(exist_ok=True)
        # A Chromium killed with its container (a stop) leaves its lock naming a host
        # that is gone; only this Ship's Chromium uses the profile, and none runs now.
        for lock in ("SingletonLock", "SingletonSocket", "SingletonCookie"):
            with contextlib.suppress(FileNotFoundError):
                (profile / lock).unlink()
        playwright = await async_playwright().start()
        try:
            context = await playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                headless=True,
                args=[*CHROMIUM_ARGS, *js_heap_args(Cgroup.detect().memory_limit())],
                accept_downloads=True,
                viewport=VIEWPORT,
            )
        except BaseException:
            await playwright.stop()
            raise
        chromium = cls(playwright, context, profile)
        try:
            await chromium._restore_cookies()
        except BaseException:
            await chromium.close()
            raise
        return chromium

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.context.close()
        with contextlib.suppress(Exception):
            await self._playwright.stop()

    # Chromium writes cookies to its profile lazily (about every 30 s), and a stopped
    # sandbox's container is killed, not asked to close: Ship keeps them itself, after
    # each call that changed them, and gives them back at the next launch.

    async def keep_cookies(self) -> None:
        try:
            cookies = await self.context.cookies()
        except Exception as exc:  # the browser died under the call: nothing to keep
            log.warning("could not read the browser's cookies: %s", exc)
            return
        if cookies == self._saved_cookies:
            return
        await asyncio.to_thread(write_json, self._profile / COOKIES_FILE, cookies)
        self._saved_cookies = cookies

    async def _restore_cookies(self) -> None:
        cookies = await asyncio.to_thread(read_json, self._profile / COOKIES_FILE)
        if not isinstance(cookies, list):
            return
        now = time.time()
        # Session cookies (expires -1) come back too: a stop is not the end of the agent's
        # browsing session, and logins often live in them.
        alive = [cookie for cookie in cookies if cookie_alive(cookie, now)]
        with contextlib.suppress(Exception):  # a cookie Chromium refuses is not fatal
            await self.context.add_cookies(alive)
        self._saved_cookies = await self.context.cookies()


def js_heap_args(memory_limit: int | None) -> list[str]:
    """Chromium's flag capping a page's JavaScript heap (see JS_HEAP_SHARE)."""
    if memory_limit is None:
        return []
    megabytes = max(MIN_JS_HEAP_MB, int(memory_limit * JS_HEAP_SHARE) // 2**20)
    return [f"--js-flags=--max-old-space-size={megabytes}"]


def cookie_alive(cookie: dict[str, Any], now: float) -> bool:
    expires = cookie.get("expires", -1)
    return bool(expires == -1 or expires > now)


def write_json(target: Path, value: Any) -> None:
    staged = target.with_suffix(".tmp")
    staged.write_text(json.dumps(value))
    staged.replace(target)


def read_json(source: Path) -> Any:
    try:
        return json.loads(source.read_text())
    except (FileNotFoundError, ValueError):
        return None
