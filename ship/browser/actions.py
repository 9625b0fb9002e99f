"""The browser's page actions, one function each, each saying in a step what it did.

Navigate, snapshot, click, type, press, select, screenshot, read, wait, go back/forward/
reload, evaluate: each acts on the current page within the time left.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ship import paths, protocol
from ship.browser.guards import Refs, StepFailed, checked_url

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

MAX_TEXT_CHARS = 200_000
# How long an action's aftermath (a navigation reaching its DOM, a download beginning) is
# waited for before the call goes on.
SETTLE_S = 5.0
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


async def act(
    page: Page,
    action: protocol.BrowserAction,
    left: float,
    *,
    refs: Refs,
    workspace: Path,
    download_began: asyncio.Event,
) -> protocol.BrowserStep:
    """Run one page action with `left` seconds to go; StepFailed or Playwright's error
    when it cannot be done. Closing the browser and tabs are the browser's own."""
    timeout_ms = left * 1000
    if isinstance(action, protocol.Navigate):
        url = checked_url(action.url, workspace)
        before = page.url
        response = await page.goto(url, timeout=timeout_ms)
        status = f" (HTTP {response.status})" if response is not None else ""
        return done("navigate", f"{before} → {page.url}{status}")
    if isinstance(action, protocol.Snapshot):
        return done("snapshot", await snapshot(page, refs, action.interactive, timeout_ms))
    if isinstance(action, protocol.Click):
        return await click(refs.locate(page, action.target), action, left, download_began)
    if isinstance(action, protocol.TypeText):
        return await type_text(refs.locate(page, action.target), action, timeout_ms)
    if isinstance(action, protocol.Press):
        await page.keyboard.press(action.key)
        return done("press", f"pressed {action.key}")
    if isinstance(action, protocol.Select):
        chosen = await refs.locate(page, action.target).select_option(
            action.values, timeout=timeout_ms
        )
        return done("select", f"selected {', '.join(chosen)} in {action.target}")
    if isinstance(action, protocol.Screenshot):
        return await screenshot(page, action, workspace, timeout_ms)
    if isinstance(action, protocol.Read):
        return done("get", await read(page, refs, action, timeout_ms))
    if isinstance(action, protocol.Wait):
        return await wait(page, action, timeout_ms)
    if isinstance(action, protocol.Go):
        return await go(page, action, timeout_ms)
    if isinstance(action, protocol.Evaluate):
        value = await page.evaluate(action.expression)
        return done("evaluate", as_text(value))
    raise StepFailed(f"unknown action {action.kind}")  # pragma: no cover - validated


async def click(
    target: Locator, action: protocol.Click, left: float, download_began: asyncio.Event
) -> protocol.BrowserStep:
    # A link with `download` starts no navigation, so Playwright's click returns at
    # once and the download begins when the server answers: wait for it (bounded),
    # or the call would end before it and report it only in the next one.
    deadline = time.monotonic() + left
    asks_download = await target.evaluate("el => !!el.closest('a[download]')", timeout=left * 1000)
    download_began.clear()
    await target.click(timeout=left * 1000)
    if not asks_download:
        return done("click", f"clicked {action.target}")
    wait = max(0.0, min(SETTLE_S, deadline - time.monotonic()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(download_began.wait(), wait)
    if download_began.is_set():
        return done("click", f"clicked {action.target}; a download began")
    return done(
        "click",
        f"clicked {action.target}; the download it asks for had not begun after "
        f"{wait:.1f} s: a later call's changes report it when it lands",
    )


async def type_text(
    field: Locator, action: protocol.TypeText, timeout_ms: float
) -> protocol.BrowserStep:
    if action.keystrokes:
        await field.press_sequentially(action.text, timeout=timeout_ms)
    else:
        await field.fill(action.text, timeout=timeout_ms)
    if action.submit:
        await field.press("Enter", timeout=timeout_ms)
    typed = f"typed {len(action.text)} characters into {action.target}"
    return done("type", typed + (" and pressed Enter" if action.submit else ""))


async def snapshot(page: Page, refs: Refs, interactive: bool, timeout_ms: float) -> str:
    text = await page.aria_snapshot(mode="ai", timeout=timeout_ms)
    refs.remember(page, text)
    if interactive:
        text = "\n".join(line.strip() for line in text.splitlines() if acts(line))
    return text or "(the page is empty)"


async def screenshot(
    page: Page, action: protocol.Screenshot, workspace: Path, timeout_ms: float
) -> protocol.BrowserStep:
    png = await page.screenshot(full_page=action.full_page, timeout=timeout_ms, type="png")
    note = f"{len(png)} bytes"
    if action.path:
        target = paths.resolve(workspace, action.path)
        target.real.parent.mkdir(parents=True, exist_ok=True)
        target.real.write_bytes(png)
        note += f", saved to {target.relative}"
    return protocol.BrowserStep(
        kind="screenshot",
        success=True,
        output=f"screenshot of {page.url} ({note})",
        screenshot=base64.b64encode(png).decode(),
    )


async def read(page: Page, refs: Refs, action: protocol.Read, timeout_ms: float) -> str:
    if action.what == "url":
        return str(page.url)
    if action.what == "title":
        return str(await page.title())
    if action.target:
        text = await refs.locate(page, action.target).inner_text(timeout=timeout_ms)
    else:
        text = await page.locator("body").inner_text(timeout=timeout_ms)
    return str(text)[:MAX_TEXT_CHARS]


async def wait(page: Page, action: protocol.Wait, timeout_ms: float) -> protocol.BrowserStep:
    if action.selector:
        await page.locator(action.selector).first.wait_for(timeout=timeout_ms)
        return done("wait", f"{action.selector} is on the page")
    await asyncio.sleep((action.ms or 0) / 1000)
    return done("wait", f"waited {action.ms or 0} ms")


async def go(page: Page, action: protocol.Go, timeout_ms: float) -> protocol.BrowserStep:
    move = {"back": page.go_back, "forward": page.go_forward, "reload": page.reload}
    response = await move[action.kind](timeout=timeout_ms)
    if response is None and action.kind != "reload":
        return done(action.kind, f"no page to go {action.kind} to; still at {page.url}")
    return done(action.kind, f"at {page.url}")


def acts(line: str) -> bool:
    """Whether a snapshot line is an element one can act on (AI snapshots give every
    element a ref, headings and containers included)."""
    role = line.strip().removeprefix("- ").split(" ", 1)[0].rstrip(":")
    return role in INTERACTIVE_ROLES and "[ref=" in line


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value[:MAX_TEXT_CHARS]
    try:
        return json.dumps(value, ensure_ascii=False)[:MAX_TEXT_CHARS]
    except (TypeError, ValueError):
        return repr(value)[:MAX_TEXT_CHARS]


def done(kind: str, output: str) -> protocol.BrowserStep:
    return protocol.BrowserStep(kind=kind, success=True, output=output)


def failed(kind: str, error: str) -> protocol.BrowserStep:
    return protocol.BrowserStep(kind=kind, success=False, error=error)
