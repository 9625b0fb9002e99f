"""The operator console in a real browser: Debian's Chromium, driven by Playwright,
against a real Bay over HTTP with real sandboxes.

Each page's screenshot is saved (to a temporary folder, or with BAY_UPDATE_DOCS=1 to
docs/images/, where docs/console.md shows them).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.integration.http.conftest import HttpBay, running_server

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
# What the machine's notes say a headless Chromium needs here: no sandbox as root, and
# none of its calls home (refused by the closed network, many at a time).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000

PLOT = """\
import matplotlib.pyplot as plt
plt.plot([1, 4, 9, 16])
plt.title("console test")
plt.show()
print("hello from the console test")
"""


def screenshots() -> Path:
    if os.environ.get("BAY_UPDATE_DOCS") == "1":
        return ROOT / "docs" / "images"
    return Path(tempfile.mkdtemp(prefix="bay-console-shots-"))


SHOTS = screenshots()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's Chromium is missing: run scripts/ensure-chromium (as root)")
    with running_server(("alice", "bob", "root"), BAY_ADMIN_OWNERS='["root"]') as bay:
        yield bay


_CLIENTS: dict[str, httpx.Client] = {}


def api(server: HttpBay, owner: str) -> httpx.Client:
    """The owner's REST client, one per owner, closed with the module's server."""
    if owner not in _CLIENTS:
        _CLIENTS[owner] = server.client(owner)
    return _CLIENTS[owner]


@pytest.fixture(scope="module", autouse=True)
def clients_closed() -> Iterator[None]:
    yield
    for client in _CLIENTS.values():
        client.close()
    _CLIENTS.clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def signed_in(browser: Browser, server: HttpBay, owner: str, width: int = 1280) -> Page:
    context: BrowserContext = browser.new_context(
        base_url=server.url, viewport={"width": width, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto("/ui/login")
    page.fill("#key", server.keys[owner])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/sandboxes")
    return page


def sandbox_page(page: Page, sandbox_id: str, tab: str = "") -> None:
    page.goto(f"/ui/sandboxes/{sandbox_id}" + (f"/{tab}" if tab else ""))


def test_sign_in_refuses_a_wrong_key_and_sign_out_ends_the_session(
    server: HttpBay, browser: Browser
) -> None:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto("/ui/sandboxes")
    expect(page).to_have_url(re.compile(r"/ui/login$"))  # signed out: to the sign-in page
    shot(page, "login")
    page.fill("#key", "bay_not-a-key")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("unknown")
    cookies = {c["name"] for c in context.cookies()}
    assert "bay_console" not in cookies

    page.fill("#key", server.keys["alice"])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/sandboxes")
    session = next(c for c in context.cookies() if c["name"] == "bay_console")
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    assert server.keys["alice"] not in session["value"]  # the key is not what it keeps
    page.click("text=Sign out")
    page.wait_for_url("**/ui/login")
    page.goto("/ui/sandboxes")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    # The old cookie is dead on the server too, not only forgotten by the browser.
    old = httpx.get(f"{server.url}/ui/sandboxes", cookies={"bay_console": session["value"]})
    assert old.status_code == 303
    assert old.headers["location"] == "/ui/login"
    context.close()


def test_a_sandbox_its_runs_files_snapshots_and_terminal(server: HttpBay, browser: Browser) -> None:
    alice = api(server, "alice")
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    page = signed_in(browser, server, "alice")
    page.reload()
    expect(page.locator("table.sandboxes")).to_contain_text(sandbox_id)
    shot(page, "sandboxes")

    # A run through the API is in the history with its output and its image.
    ran = alice.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": PLOT})
    assert ran.status_code == 200, ran.text
    assert ran.json()["success"], ran.text
    sandbox_page(page, sandbox_id, "runs")
    page.locator("table.runs a").first.click()
    expect(page.locator("pre.output")).to_contain_text("hello from the console test")
    picture = page.locator(".pictures img").first
    expect(picture).to_be_visible()
    assert (picture.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert page.evaluate("document.querySelector('.pictures img').naturalWidth") > 100
    shot(page, "run")

    # Files: upload through the page, see it, download it, delete it.
    upload = Path(tempfile.mkdtemp()) / "notes.txt"
    upload.write_text("uploaded through the console\n")
    sandbox_page(page, sandbox_id, "files")
    page.set_input_files("#upload", str(upload))
    page.click("form[enctype] button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("uploaded notes.txt")
    read = alice.get(f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": "notes.txt"})
    assert read.json() == {"content": "uploaded through the console\n"}
    shot(page, "files")
    with page.expect_download() as downloading:
        page.locator("tr", has_text="notes.txt").get_by_text("Download").click()
    assert Path(downloading.value.path()).read_text() == "uploaded through the console\n"
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="notes.txt").get_by_role("button", name="Delete notes.txt").click()
    expect(page.locator(".notice")).to_contain_text("deleted notes.txt")
    assert (
        alice.get(
            f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": "notes.txt"}
        ).status_code
        == 404
    )

    # Snapshots: take one, change a file, restore: the file is as it was.
    alice.put(
        f"/v1/sandboxes/{sandbox_id}/filesystem/files",
        json={"path": "state.txt", "content": "before"},
    ).raise_for_status()
    sandbox_page(page, sandbox_id)
    page.fill("#snapshot-name", "checkpoint")
    page.click("text=Take a snapshot")
    expect(page.locator(".notice")).to_contain_text("snapshot")
    expect(page.locator("td", has_text="checkpoint")).to_be_visible()
    alice.put(
        f"/v1/sandboxes/{sandbox_id}/filesystem/files",
        json={"path": "state.txt", "content": "after"},
    ).raise_for_status()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Restore").click()
    expect(page.locator(".notice")).to_contain_text("restored")
    state = alice.get(f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": "state.txt"})
    assert state.json() == {"content": "before"}

    # The terminal: what is typed runs in the sandbox.
    sandbox_page(page, sandbox_id, "terminal")
    expect(page.locator("#terminal-state")).to_have_text("connected")
    page.locator("#terminal").click()
    page.keyboard.type("echo typed-$((6*7)) > typed.txt; cat typed.txt\n")
    expect(page.locator(".xterm-rows")).to_contain_text("typed-42")
    shot(page, "terminal")
    typed = alice.get(f"/v1/sandboxes/{sandbox_id}/filesystem/files", params={"path": "typed.txt"})
    assert typed.json() == {"content": "typed-42\n"}
    page.context.close()


def test_live_output_and_a_preview_link(server: HttpBay, browser: Browser) -> None:
    alice = api(server, "alice")
    sandbox_id = alice.post("/v1/sandboxes", json={}).json()["id"]
    # A server and its preview.
    started = alice.post(
        f"/v1/sandboxes/{sandbox_id}/processes",
        json={"command": "mkdir -p site && echo preview-page-body > site/index.html && "
              "cd site && python -m http.server 8000"},
    )  # fmt: skip
    assert started.status_code in (200, 201), started.text
    deadline = time.monotonic() + 60
    ports = f"/v1/sandboxes/{sandbox_id}/ports"
    while (exposed := alice.post(ports, json={"port": 8000})).status_code not in (200, 201):
        assert time.monotonic() < deadline, exposed.text  # the server is not listening yet
        time.sleep(0.2)

    # A run that prints, then waits for a file the test writes once the page showed it.
    code = (
        "import os, time\nprint('live-marker-1', flush=True)\n"
        "deadline = time.time() + 60\n"
        "while not os.path.exists('release') and time.time() < deadline:\n"
        "    time.sleep(0.05)\nprint('done')\n"
    )
    answers: list[httpx.Response] = []

    def run() -> None:
        with alice.stream(
            "POST",
            f"/v1/sandboxes/{sandbox_id}/python/exec",
            json={"code": code},
            headers={"Accept": "text/event-stream"},
        ) as response:
            response.read()
            answers.append(response)

    running = threading.Thread(target=run)
    running.start()
    page = signed_in(browser, server, "alice")
    try:
        sandbox_page(page, sandbox_id)
        expect(page.locator("#live")).to_contain_text("live-marker-1")
        shot(page, "sandbox")
    finally:
        alice.put(
            f"/v1/sandboxes/{sandbox_id}/filesystem/files", json={"path": "release", "content": ""}
        )
        running.join(timeout=90)
    assert answers
    assert answers[0].status_code == 200
    expect(page.locator("#live")).to_contain_text("No run in progress")

    with page.context.expect_page() as opening:
        page.get_by_role("link", name="open preview").click()
    preview = opening.value
    preview.wait_for_load_state()
    assert "preview-page-body" in preview.content()
    page.context.close()


def test_owners_see_only_their_own_and_an_admin_filters_by_owner(
    server: HttpBay, browser: Browser
) -> None:
    alices = api(server, "alice").post("/v1/sandboxes", json={}).json()["id"]
    bobs = api(server, "bob").post("/v1/sandboxes", json={}).json()["id"]
    bob = signed_in(browser, server, "bob", width=390)
    expect(bob.locator("table.sandboxes")).to_contain_text(bobs)
    expect(bob.locator("body")).not_to_contain_text(alices)
    shot(bob, "sandboxes-390")
    for path in ("", "/files", "/runs", "/terminal"):
        answer = bob.goto(f"/ui/sandboxes/{alices}{path}")
        assert answer is not None
        assert answer.status == 404, path
    bob.context.close()

    root = signed_in(browser, server, "root")
    expect(root.locator("table.sandboxes")).to_contain_text(alices)
    expect(root.locator("table.sandboxes")).to_contain_text(bobs)
    root.fill("#owner", "alice")
    root.click("text=Filter")
    expect(root.locator("table.sandboxes")).to_contain_text(alices)
    expect(root.locator("table.sandboxes")).not_to_contain_text(bobs)
    # An admin opens another owner's sandbox as that owner.
    root.goto(f"/ui/sandboxes/{bobs}")
    expect(root.locator(".meta").first).to_contain_text("owner bob")
    root.goto("/ui/health")
    expect(root.locator("h1")).to_contain_text("Health")
    shot(root, "health")
    root.context.close()


def test_keys_are_made_once_shown_and_revoked_ending_their_sessions(
    server: HttpBay, browser: Browser
) -> None:
    root = signed_in(browser, server, "root")
    root.goto("/ui/keys")
    root.fill("#key-owner", "carol")
    root.fill("#key-days", "30")
    root.get_by_role("button", name="Create").click()
    key = root.locator("#new-key").inner_text().strip()
    assert key.startswith("bay_")
    assert key not in root.url
    shot(root, "keys")
    carol = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"})
    _CLIENTS["carol"] = carol
    assert carol.get("/v1/sandboxes").status_code == 200
    server.keys["carol"] = key
    carols_page = signed_in(browser, server, "carol")
    expect(carols_page.locator("h1")).to_have_text("Sandboxes")

    root.goto("/ui/keys")
    row = root.locator("tr", has_text="carol")
    expect(row).to_contain_text("active until")
    root.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(root.locator(".notice")).to_contain_text("revoked")
    assert carol.get("/v1/sandboxes").status_code == 401
    carols_page.goto("/ui/sandboxes")  # the revoked key's session ended with it
    expect(carols_page).to_have_url(re.compile(r"/ui/login$"))

    alice = signed_in(browser, server, "alice")
    answer = alice.goto("/ui/keys")
    assert answer is not None
    assert answer.status == 403  # only admins manage keys
    root.context.close()
    carols_page.context.close()
    alice.context.close()


def test_a_post_without_its_csrf_token_is_refused(server: HttpBay) -> None:
    web = _CLIENTS["web"] = httpx.Client(base_url=server.url)
    form = web.get("/ui/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None
    signed = web.post("/ui/login", data={"csrf": token.group(1), "key": server.keys["alice"]})
    assert signed.status_code == 303
    sandbox_id = api(server, "alice").post("/v1/sandboxes", json={}).json()["id"]
    refused = web.post(f"/ui/sandboxes/{sandbox_id}/delete", data={})
    assert refused.status_code == 403
    assert "security token" in refused.text
    forged = web.post(f"/ui/sandboxes/{sandbox_id}/delete", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert api(server, "alice").get(f"/v1/sandboxes/{sandbox_id}").status_code == 200
    # A sign-in without the form's token makes no session either.
    fresh = _CLIENTS["fresh"] = httpx.Client(base_url=server.url)
    refused_login = fresh.post("/ui/login", data={"key": server.keys["alice"]})
    assert refused_login.status_code == 401
    assert "bay_console" not in fresh.cookies
    # With the token, the same POST deletes.
    page = web.get(f"/ui/sandboxes/{sandbox_id}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    deleted = web.post(f"/ui/sandboxes/{sandbox_id}/delete", data={"csrf": csrf.group(1)})
    assert deleted.status_code == 303
    assert api(server, "alice").get(f"/v1/sandboxes/{sandbox_id}").status_code == 404
