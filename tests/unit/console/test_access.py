"""Who a console request comes from: the sign-in form, the session cookie, CSRF on every
POST, the headers on every answer, and the terminal socket's Origin check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from bay_mcp.bay import Bay
from bay_mcp.console.access import LOGIN_CSRF_COOKIE, SESSION_COOKIE, websocket_owner
from bay_mcp.errors import NotFound
from tests.unit.console.conftest import Browser

OpenBrowser = Callable[[], Awaitable[Browser]]


def assert_secured(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_a_stranger_is_sent_to_sign_in(bay: Bay, open_browser: OpenBrowser) -> None:
    await bay.keys.create("alice")
    browser = await open_browser()
    for path in ("/ui/sandboxes", "/ui/health", "/ui/keys", "/ui/sandboxes/sb-x/files"):
        page = await browser.get(path)
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login"
        assert_secured(page)
    assert (await browser.get("/ui")).headers["location"] == "/ui/sandboxes"


async def test_htmx_and_posts_without_a_session_are_told_to_sign_in_again(
    bay: Bay, open_browser: OpenBrowser
) -> None:
    await bay.keys.create("alice")
    browser = await open_browser()
    for answer in (
        await browser.get("/ui/sandboxes/sb-x/live", htmx=True),
        await browser.post("/ui/sandboxes/sb-x/stop"),
    ):
        assert answer.status_code == 401
        assert answer.headers["hx-redirect"] == "/ui/login"
        assert_secured(answer)


async def test_signing_in_sets_a_strict_http_only_session_cookie(
    bay: Bay, open_browser: OpenBrowser
) -> None:
    _, key = await bay.keys.create("alice")
    browser = await open_browser()
    form = await browser.get("/ui/login")
    assert form.status_code == 200
    assert_secured(form)
    assert "Continue without a key" not in form.text  # a key exists: no anonymous access
    assert LOGIN_CSRF_COOKIE in form.headers["set-cookie"]
    signed_in = await browser.sign_in(key)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/ui/sandboxes"
    cookie = next(
        c for c in signed_in.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/;" in cookie
    assert key not in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is Secure
    page = await browser.get("/ui/sandboxes")
    assert page.status_code == 200
    assert "alice" in page.text
    # Signed in, the sign-in page sends the person on.
    assert (await browser.get("/ui/login")).headers["location"] == "/ui/sandboxes"


async def test_a_wrong_key_is_refused_on_the_form(bay: Bay, open_browser: OpenBrowser) -> None:
    await bay.keys.create("alice")
    browser = await open_browser()
    refused = await browser.sign_in("bay_wrong")
    assert refused.status_code == 401
    assert "unknown" in refused.text
    assert SESSION_COOKIE not in browser.client.cookies
    assert_secured(refused)


async def test_a_sign_in_without_the_forms_token_is_refused(
    bay: Bay, open_browser: OpenBrowser
) -> None:
    _, key = await bay.keys.create("alice")
    browser = await open_browser()
    await browser.get("/ui/login")  # the cookie, but a forged form without its value
    for token in ("", "forged"):
        refused = await browser.client.post("/ui/login", data={"csrf": token, "key": key})
        assert refused.status_code == 401
        assert "stale" in refused.text
    assert SESSION_COOKIE not in browser.client.cookies


async def test_without_keys_a_loopback_console_signs_in_anonymously(
    bay: Bay, open_browser: OpenBrowser
) -> None:
    browser = await open_browser()
    form = await browser.get("/ui/login")
    assert "Continue without a key" in form.text
    assert (await browser.sign_in("")).status_code == 303
    page = await browser.get("/ui/sandboxes")
    assert bay.access.anonymous_owner in page.text
    await bay.keys.create("alice")  # the first key ends anonymous access
    assert (await browser.get("/ui/sandboxes")).headers["location"] == "/ui/login"


async def test_a_post_without_the_sessions_token_changes_nothing(bay: Bay, alice: Browser) -> None:
    sandbox = await bay.sandboxes.create("alice")
    for token in ("", "forged", "tökén", alice.csrf + "x"):
        refused = await alice.post(f"/ui/sandboxes/{sandbox.id}/delete", csrf=token)
        assert refused.status_code == 403
        assert "security token" in refused.text
        assert_secured(refused)
    assert (await bay.sandboxes.get("alice", sandbox.id)).id == sandbox.id
    # htmx sends it as a header instead of a field.
    deleted = await alice.client.post(
        f"/ui/sandboxes/{sandbox.id}/delete", headers={"X-CSRF-Token": alice.csrf}
    )
    assert deleted.status_code == 303
    with pytest.raises(NotFound):
        await bay.sandboxes.get("alice", sandbox.id)


async def test_an_htmx_error_is_the_message_alone(bay: Bay, alice: Browser) -> None:
    missing = await alice.get("/ui/sandboxes/sb-nope/live", htmx=True)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/plain")
    assert "sb-nope" in missing.text


async def test_signing_out_ends_the_session(bay: Bay, alice: Browser) -> None:
    out = await alice.post("/ui/logout")
    assert out.status_code == 303
    assert out.headers["location"] == "/ui/login"
    assert SESSION_COOKIE not in alice.client.cookies
    assert (await alice.get("/ui/sandboxes")).status_code == 303


async def test_a_revoked_key_ends_its_console_sessions(bay: Bay, alice: Browser) -> None:
    [record] = await bay.keys.list()
    await bay.keys.revoke(record.id)
    assert (await alice.get("/ui/sandboxes")).headers["location"] == "/ui/login"


async def test_the_terminal_socket_takes_the_cookie_only_from_this_origin(bay: Bay) -> None:
    _, key = await bay.keys.create("alice")
    _, admin_key = await bay.keys.create("admin")
    token, _ = await bay.console_sessions.sign_in(key, loopback_bind=True)
    admin_token, _ = await bay.console_sessions.sign_in(admin_key, loopback_bind=True)
    sandbox = await bay.sandboxes.create("bob")
    owner = websocket_owner(bay, loopback_bind=True)

    def headers(cookie: str, origin: str = "http://bay.test:8000") -> dict[str, str]:
        return {"cookie": cookie, "origin": origin, "host": "bay.test:8000"}

    assert await owner(headers(f"theme=dark; {SESSION_COOKIE}={token}"), sandbox.id) == "alice"
    # An admin acts as the sandbox's owner, as over REST.
    assert await owner(headers(f"{SESSION_COOKIE}={admin_token}"), sandbox.id) == "bob"
    for refused in (
        headers(f"{SESSION_COOKIE}={token}", origin="http://evil.test"),
        headers(f"{SESSION_COOKIE}={token}", origin="https://bay.test:8000.evil.test"),
        headers(f"{SESSION_COOKIE}={token}", origin=""),
        headers(f"{SESSION_COOKIE}="),
        headers("theme=dark"),
        headers(f"{SESSION_COOKIE}=not-a-session"),
        {"cookie": f"{SESSION_COOKIE}={token}"},
    ):
        assert await owner(refused, sandbox.id) is None


@pytest.mark.parametrize("path", ["/ui/sandboxes", "/ui/login"])
async def test_every_answer_is_secured(
    path: str, bay: Bay, alice: Browser, open_browser: OpenBrowser
) -> None:
    assert_secured(await alice.get(path))
    assert_secured(await (await open_browser()).get(path))
