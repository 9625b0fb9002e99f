"""Exposed ports over the fakes: the rules (owner, port, session) and the loopback
forward, piped to a server on this machine standing in for the container."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bay_mcp.bay import Bay
from bay_mcp.errors import NotFound, ShipError, ValidationFailed
from tests.fakes import FakeDriver


@pytest_asyncio.fixture
async def echo_port() -> AsyncIterator[int]:
    """A local server that answers each line with it upper-cased: the sandbox's server."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        yield int(server.sockets[0].getsockname()[1])


def give_address(driver: FakeDriver) -> None:
    """The fake's containers answer on this machine's loopback address."""
    for container in driver.containers.values():
        container.info = dataclasses.replace(container.info, address="127.0.0.1")


async def test_a_loopback_forward_reaches_the_sandboxs_server(
    bay: Bay, driver: FakeDriver, echo_port: int
) -> None:
    sandbox = await bay.sandboxes.create("alice")
    exposed = await bay.ports.expose("alice", sandbox.id, echo_port)
    give_address(driver)
    assert exposed.url.startswith("http://127.0.0.1:")
    assert exposed.local_url == f"http://localhost:{echo_port}/"
    forward_port = int(exposed.url.rsplit(":", 1)[1].rstrip("/"))
    reader, writer = await asyncio.open_connection("127.0.0.1", forward_port)
    writer.write(b"hello\n")
    assert await asyncio.wait_for(reader.readline(), 5) == b"HELLO\n"
    writer.close()
    assert [p.port for p in await bay.ports.list("alice", sandbox.id)] == [echo_port]


async def test_a_port_belongs_to_its_session(bay: Bay, driver: FakeDriver, echo_port: int) -> None:
    sandbox = await bay.sandboxes.create("alice")
    await bay.ports.expose("alice", sandbox.id, echo_port)
    give_address(driver)
    assert await bay.ports.target("alice", sandbox.id, echo_port) == ("127.0.0.1", echo_port)
    await bay.sandboxes.stop("alice", sandbox.id)
    with pytest.raises(NotFound, match="closed when the sandbox stopped"):
        await bay.ports.target("alice", sandbox.id, echo_port)
    # A new session does not bring it back: it is exposed again or not at all.
    await bay.ports.expose("alice", sandbox.id, 9)
    with pytest.raises(NotFound, match="not exposed"):
        await bay.ports.target("alice", sandbox.id, echo_port)


async def test_the_rules_of_exposing(bay: Bay, driver: FakeDriver) -> None:
    sandbox = await bay.sandboxes.create("alice")
    with pytest.raises(NotFound):
        await bay.ports.expose("bob", sandbox.id, 8000)
    with pytest.raises(ValidationFailed, match="runtime's own"):
        await bay.ports.expose("alice", sandbox.id, 8123)
    with pytest.raises(ValidationFailed):
        await bay.ports.expose("alice", sandbox.id, 70000)
    await bay.ports.expose("alice", sandbox.id, 8000)
    with pytest.raises(NotFound):
        await bay.ports.target("bob", sandbox.id, 8000)
    with pytest.raises(ShipError, match="no network address"):
        await bay.ports.target("alice", sandbox.id, 8000)
    assert await bay.ports.unexpose("alice", sandbox.id, 8000) is True
    assert await bay.ports.unexpose("alice", sandbox.id, 8000) is False


async def test_over_http_the_url_is_the_proxys_with_a_signed_token(bay: Bay) -> None:
    bay.ports.serve_through("https://bay.example.com/")
    sandbox = await bay.sandboxes.create("alice")
    exposed = await bay.ports.expose("alice", sandbox.id, 3000)
    prefix = f"https://bay.example.com/v1/sandboxes/{sandbox.id}/ports/3000/?bay_token="
    assert exposed.url.startswith(prefix)
    assert exposed.expires_at is not None
    grant = bay.ports.tokens.verify(exposed.url.removeprefix(prefix), sandbox.id, 3000)
    assert grant.owner == "alice"
