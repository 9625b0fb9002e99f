"""The console over the fake Bay: the HTTP app in memory (httpx over ASGI), and people
signed in to it through its own sign-in form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest_asyncio
from starlette.applications import Starlette

from bay_mcp.bay import Bay
from bay_mcp.console.access import SESSION_COOKIE
from bay_mcp.web.app import create_http_app

ORIGIN = "http://127.0.0.1"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    """One person's browser: its cookies, and the CSRF token its pages carry."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    async def get(
        self, path: str, *, params: dict[str, str] | None = None, htmx: bool = False
    ) -> httpx.Response:
        headers = {"HX-Request": "true"} if htmx else {}
        return await self.client.get(path, params=params, headers=headers)

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        files: dict[str, tuple[str, bytes]] | None = None,
        csrf: str | None = None,
    ) -> httpx.Response:
        """A form's POST, carrying the session's token as the form does (or `csrf`)."""
        form = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        return await self.client.post(path, data=form, files=files)

    async def sign_in(self, key: str) -> httpx.Response:
        form = await self.client.get("/ui/login")
        found = CSRF_FIELD.search(form.text)
        assert found is not None, form.text
        signed_in = await self.client.post("/ui/login", data={"csrf": found[1], "key": key})
        if self.client.cookies.get(SESSION_COOKIE):
            page = await self.client.get("/ui/sandboxes")
            token = CSRF_FIELD.search(page.text)
            assert token is not None
            self.csrf = token[1]
        return signed_in


@pytest_asyncio.fixture
async def app(bay: Bay) -> Starlette:
    return create_http_app(bay, loopback_bind=True)


@pytest_asyncio.fixture
async def open_browser(app: Starlette) -> AsyncIterator[Callable[[], Awaitable[Browser]]]:
    clients: list[httpx.AsyncClient] = []

    async def make() -> Browser:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)
        clients.append(client)
        return Browser(client)

    yield make
    for client in clients:
        await client.aclose()


@pytest_asyncio.fixture
async def alice(bay: Bay, open_browser: Callable[[], Awaitable[Browser]]) -> Browser:
    _, key = await bay.keys.create("alice")
    browser = await open_browser()
    assert (await browser.sign_in(key)).status_code == 303
    return browser


@pytest_asyncio.fixture
async def bob(bay: Bay, open_browser: Callable[[], Awaitable[Browser]]) -> Browser:
    _, key = await bay.keys.create("bob")
    browser = await open_browser()
    assert (await browser.sign_in(key)).status_code == 303
    return browser


@pytest_asyncio.fixture
async def admin(bay: Bay, open_browser: Callable[[], Awaitable[Browser]]) -> Browser:
    _, key = await bay.keys.create("admin")
    browser = await open_browser()
    assert (await browser.sign_in(key)).status_code == 303
    return browser
