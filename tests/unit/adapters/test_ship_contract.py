"""Bay's Ship client and Ship's app hold to one route table: Ship mounts exactly the
table's routes, every public call of the client reaches one of them (and together they
reach all), and no endpoint path is written anywhere but in the table."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.routing import Route

from bay_mcp.adapters import ship_client as ship_client_module
from bay_mcp.adapters.ship_client import ShipClient, ShipEndpoint
from bay_mcp.errors import CapabilityNotSupported
from ship import protocol
from ship.app import create_app
from tests.unit.ship.conftest import TOKEN, make_settings, user_env

TABLE = {(route.method, route.path) for route in protocol.ROUTES}
# A path's `{parameter}` matches one segment of a called URL.
TEMPLATES = {
    (method, re.compile(re.sub(r"\{\w+\}", "[^/]+", path) + "$")): path for method, path in TABLE
}


def template(method: str, path: str) -> tuple[str, str]:
    """The table's (method, path) that a called URL's path is an instance of."""
    found = [(m, t) for (m, pattern), t in TEMPLATES.items() if m == method and pattern.match(path)]
    assert len(found) == 1, (method, path, found)
    return found[0]


ENDPOINT = ShipEndpoint(url="http://ship", token=TOKEN)


def test_the_table_names_each_endpoint_once() -> None:
    assert len(TABLE) == len(protocol.ROUTES)
    # Open: the health probe, and /meta, which code in the sandbox reads (upstream does).
    assert [route.path for route in protocol.ROUTES if not route.authenticated] == [
        "/health",
        "/meta",
    ]
    streaming = {route.path for route in protocol.ROUTES if route.streaming}
    assert streaming == {"/python/exec", "/code/exec", "/shell/exec"}


def test_ships_app_mounts_exactly_the_tables_routes(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), env=user_env(tmp_path / "home"))
    mounted = set()
    for route in app.routes:
        assert isinstance(route, Route)
        assert route.methods is not None
        mounted |= {(method, route.path) for method in route.methods - {"HEAD"}}
    assert mounted == TABLE


@pytest_asyncio.fixture
async def ship_app(tmp_path: Path) -> AsyncIterator[Starlette]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    app = create_app(make_settings(workspace), env=user_env(tmp_path / "home"))
    async with app.router.lifespan_context(app):
        yield app


async def test_every_client_call_reaches_a_route_of_the_table(ship_app: Starlette) -> None:
    """The real client against the real app: all calls answered, all routes called."""
    called: list[tuple[str, str]] = []

    async def record(request: httpx.Request) -> None:
        called.append(template(request.method, request.url.path))

    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ship_app), event_hooks={"request": [record]}
    )
    client = ShipClient(http)
    try:
        await client.healthy(ENDPOINT)
        assert (await client.meta(ENDPOINT)).api_version == protocol.API_VERSION
        # Not a pool member (no SHIP_ORPHAN_AFTER_SECONDS): nothing watches for Bay.
        assert (await client.pool_heartbeat(ENDPOINT, claimed=False)).watching is False
        assert (await client.python_exec(ENDPOINT, "1 + 1", 30)).output == "2\n"
        streamed: list[str] = []
        await client.python_exec(ENDPOINT, "print('live')", 30, on_output=streamed.append)
        assert "".join(streamed) == "live\n"
        assert await client.python_interrupt(ENDPOINT) is False
        # The same kernel through the route for every language (this host has Python's).
        assert (await client.code_exec(ENDPOINT, "python", "6 * 7", 30)).output == "42\n"
        assert await client.code_interrupt(ENDPOINT, "python") is False
        shell = await client.shell_exec(ENDPOINT, "echo hi", 30, ".", "exec-1")
        assert shell.output == "hi\n"
        await client.shell_exec(ENDPOINT, "echo hi", 30, ".", "exec-2", on_output=streamed.append)
        assert await client.shell_cancel(ENDPOINT, "exec-1") is False
        with pytest.raises(CapabilityNotSupported):  # this host has no Chromium
            await client.browser(
                ENDPOINT, protocol.BrowserRequest(actions=[protocol.Read(what="url")])
            )
        await client.write_file(ENDPOINT, "a.txt", "text")
        assert (await client.read_file(ENDPOINT, "a.txt")).content == "text"
        await client.move(ENDPOINT, "a.txt", "b.txt")
        listed = [e.name for e in (await client.list_directory(ENDPOINT, ".")).entries]
        # Beside the skills Ship copied in at its start (ship/skills.py).
        assert listed == [".bay", "b.txt", "skills"]

        async def chunks() -> AsyncIterator[bytes]:
            yield b"bytes"

        await client.upload(ENDPOINT, "c.bin", chunks(), declared_size=5)
        async with client.download(ENDPOINT, "c.bin") as download:
            assert b"".join([chunk async for chunk in download.chunks]) == b"bytes"
        await client.delete_file(ENDPOINT, "b.txt")

        start = protocol.ProcessStartRequest(command="read line; echo got $line", name="reader")
        started = await client.process_start(ENDPOINT, start)
        assert (started.name, started.state) == ("reader", "running")
        assert [p.id for p in (await client.process_list(ENDPOINT)).processes] == [started.id]
        assert (await client.process_get(ENDPOINT, started.id)).pty is False
        sent = await client.process_input(
            ENDPOINT, started.id, protocol.ProcessInputRequest(text="hi", keys=["Enter"])
        )
        assert sent.written == 3
        assert (await client.process_wait(ENDPOINT, started.id, 10)).exit_code == 0
        assert (await client.process_output(ENDPOINT, started.id, since=0)).text == "got hi\n"
        assert (await client.process_signal(ENDPOINT, started.id, "TERM")).sent is False
        terminal = protocol.ProcessStartRequest(command="cat", pty=True, rows=5, cols=20)
        shown = await client.process_start(ENDPOINT, terminal)
        assert (await client.terminal_resize(ENDPOINT, shown.id, 6, 30)).rows == 6
        assert len((await client.terminal_screen(ENDPOINT, shown.id)).lines) == 6
    finally:
        await client.close()
    assert set(called) == TABLE


def test_no_endpoint_path_is_written_outside_the_table() -> None:
    root = Path(__file__).resolve().parents[3]
    # ship/egress is the egress proxy: its control API is another one (its protocol.py).
    sources = [
        *(path for path in (root / "ship").rglob("*.py") if "egress" not in path.parts),
        Path(ship_client_module.__file__),
    ]
    literals = re.compile(
        "|".join(rf"[\"']{re.escape(path)}[\"'?]" for path in {p for _, p in TABLE})
    )
    written = {
        str(source.relative_to(root))
        for source in sources
        if source.name != "protocol.py" and literals.search(source.read_text())
    }
    assert written == set()
