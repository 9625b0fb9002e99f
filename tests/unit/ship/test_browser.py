"""The browser's pieces that need no Chromium: what an image without one answers, which
snapshot lines are actionable, which file URLs are allowed, which cookies come back."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ship import protocol
from ship.browser.actions import acts, as_text
from ship.browser.guards import inside_workspace, playwright_message, timed_out
from ship.browser.process import cookie_alive, js_heap_args, read_json, write_json
from ship.browser.runner import only_close


@pytest.mark.asyncio(loop_scope="module")
async def test_an_image_without_a_browser_says_so(client: httpx.AsyncClient) -> None:
    meta = (await client.get("/meta")).json()
    assert "browser" not in meta["capabilities"]  # this host has no Chromium + Playwright
    response = await client.post(
        "/browser/exec", json={"actions": [{"kind": "get", "what": "url"}]}
    )
    assert response.status_code == 501
    error = response.json()["error"]
    assert error["code"] == "capability_not_supported"
    assert "browser-python" in error["message"]


def test_a_pages_heap_is_capped_below_the_sandboxs_memory() -> None:
    assert js_heap_args(768 * 2**20) == ["--js-flags=--max-old-space-size=288"]
    assert js_heap_args(256 * 2**20) == ["--js-flags=--max-old-space-size=128"]  # the floor
    assert js_heap_args(None) == []  # no limit to stay under: V8's own sizing


def test_interactive_lines_are_the_elements_one_acts_on() -> None:
    assert acts('  - textbox "Search" [ref=e4]')
    assert acts('- link "Home" [ref=f2e7] [cursor=pointer]:')
    assert not acts('- heading "Find things" [level=1] [ref=e2]')
    assert not acts("- generic [ref=e3]:")
    assert not acts('- button "Go"')  # no ref: nothing to pass back


def test_file_urls_must_stay_in_the_workspace(tmp_path: Path) -> None:
    assert inside_workspace(f"file://{tmp_path}/site/a.html", tmp_path)
    assert not inside_workspace("file:///etc/passwd", tmp_path)
    assert not inside_workspace(f"file://{tmp_path}/../etc/passwd", tmp_path)
    assert not inside_workspace(f"file://{tmp_path}/%2E%2E/x", tmp_path)
    assert inside_workspace("https://example.com/", tmp_path)


def test_session_and_unexpired_cookies_come_back() -> None:
    assert cookie_alive({"expires": -1}, 1000.0)
    assert cookie_alive({"expires": 2000.0}, 1000.0)
    assert not cookie_alive({"expires": 10.0}, 1000.0)


def test_a_timeout_on_a_ref_says_to_take_a_new_snapshot() -> None:
    class TimeoutError(Exception):  # Playwright's has this name
        pass

    message = playwright_message(
        TimeoutError("Locator.click: Timeout 3000ms exceeded.\nCall log:\n  - waiting"),
        protocol.Click(target="e12"),
    )
    assert "ref e12 is not on the page" in message
    assert "take a new snapshot" in message
    plain = playwright_message(
        Exception("Error: net::ERR_NAME_NOT_RESOLVED"), protocol.Navigate(url="x")
    )
    assert plain == "net::ERR_NAME_NOT_RESOLVED"


def test_values_read_back_as_text_and_failures_name_their_action(tmp_path: Path) -> None:
    assert as_text("plain") == "plain"
    assert as_text({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert as_text(object()).startswith("<object")
    timed = timed_out(protocol.Click(target="@e4"), 5)
    assert timed.startswith("click on @e4 did not finish within 5 s")
    assert "take a new snapshot" in timed
    assert timed_out(protocol.Navigate(url="x"), 5) == "navigate did not finish within 5 s"
    assert only_close(protocol.BrowserRequest(actions=[protocol.CloseBrowser()]))
    assert not only_close(protocol.BrowserRequest(actions=[protocol.Snapshot()]))
    saved = tmp_path / "cookies.json"
    assert read_json(saved) is None
    write_json(saved, [{"name": "a", "expires": -1}])
    assert read_json(saved) == [{"name": "a", "expires": -1}]
    saved.write_text("{not json")
    assert read_json(saved) is None
