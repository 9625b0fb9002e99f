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

Modules: `runner` (the `Browser` a call goes through), `process` (Chromium's lifetime and
cookies), `actions` (one function per page action), `guards` (files, refs, error words).
"""

from ship.browser.process import BrowserFailed, browser_available
from ship.browser.runner import Browser

__all__ = ["Browser", "BrowserFailed", "browser_available"]
