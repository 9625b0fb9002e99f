"""Confirmations over streamable HTTP and SSE against a real Bay: the SDK's client with
an elicitation callback. Stateful HTTP asks at 2026-07-28 and at the legacy protocol,
SSE at the legacy one; stateless HTTP asks at 2026-07-28 (the question rides the
result) and cannot at the legacy protocol (no channel back), where the delete runs as
it always did."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Literal

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import ElicitRequestParams, ElicitResult

from tests.integration.http.conftest import HttpBay, key_headers, running_server, text_of


class Person:
    """An elicitation callback that records each question and answers as told."""

    def __init__(self, action: Literal["accept", "decline", "cancel"]) -> None:
        self.action = action
        self.questions: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        self.questions.append(params.message)
        content = {"confirm": True} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


@pytest.fixture(scope="module")
def stateful() -> Iterator[HttpBay]:
    with running_server(("alice",), BAY_ALLOW_ANONYMOUS="false") as server:
        yield server


@pytest.fixture(scope="module")
def stateless() -> Iterator[HttpBay]:
    with running_server(
        ("alice",), BAY_ALLOW_ANONYMOUS="false", BAY_STATELESS_HTTP="true"
    ) as server:
        yield server


@asynccontextmanager
async def over_http(server: HttpBay, mode: str, person: Person) -> AsyncIterator[Client]:
    async with (
        create_mcp_http_client(headers=key_headers(server, "alice")) as http,
        Client(
            streamable_http_client(f"{server.url}/mcp", http_client=http),
            mode=mode,
            elicitation_callback=person,
            read_timeout_seconds=180,
        ) as client,
    ):
        yield client


async def delete_twice(client: Client, person: Person) -> str:
    """Make a sandbox with a file; delete it declining, then accepting. Its id."""
    made = await client.call_tool("create_sandbox", {})
    assert made.structured_content is not None, text_of(made)
    sandbox_id: str = made.structured_content["id"]
    written = await client.call_tool(
        "write_file", {"sandbox_id": sandbox_id, "path": "keep.txt", "content": "kept"}
    )
    assert not written.is_error, text_of(written)
    person.action = "decline"
    kept = await client.call_tool("delete_sandbox", {"sandbox_id": sandbox_id})
    assert kept.structured_content is not None, text_of(kept)
    if person.questions:
        assert kept.structured_content["status"] == "kept"
        read = await client.call_tool("read_file", {"sandbox_id": sandbox_id, "path": "keep.txt"})
        assert text_of(read) == "kept"
        person.action = "accept"
        deleted = await client.call_tool("delete_sandbox", {"sandbox_id": sandbox_id})
        assert deleted.structured_content is not None, text_of(deleted)
        assert deleted.structured_content["status"] == "deleted"
    else:
        assert kept.structured_content["status"] == "deleted"
    assert (await client.call_tool("get_sandbox", {"sandbox_id": sandbox_id})).is_error
    return sandbox_id


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stateful_http_asks_and_declining_keeps_the_sandbox(
    stateful: HttpBay, mode: str
) -> None:
    person = Person("decline")
    async with over_http(stateful, mode, person) as client:
        sandbox_id = await delete_twice(client, person)
    assert person.questions == 2 * [
        f"Delete sandbox {sandbox_id} and its 1 file (4 bytes) in /workspace? "
        "This cannot be undone."
    ]


async def test_sse_asks_and_declining_keeps_the_sandbox(stateful: HttpBay) -> None:
    person = Person("decline")
    async with Client(
        sse_client(f"{stateful.url}/sse", headers=key_headers(stateful, "alice")),
        elicitation_callback=person,
        read_timeout_seconds=180,
    ) as client:
        sandbox_id = await delete_twice(client, person)
    assert len(person.questions) == 2
    assert f"Delete sandbox {sandbox_id} and its 1 file" in person.questions[0]


async def test_stateless_http_asks_at_2026_07_28(stateless: HttpBay) -> None:
    person = Person("decline")
    async with over_http(stateless, "auto", person) as client:
        await delete_twice(client, person)
    assert len(person.questions) == 2


async def test_stateless_http_at_the_legacy_protocol_deletes_as_before(
    stateless: HttpBay,
) -> None:
    person = Person("decline")
    async with over_http(stateless, "legacy", person) as client:
        await delete_twice(client, person)
    assert person.questions == []
