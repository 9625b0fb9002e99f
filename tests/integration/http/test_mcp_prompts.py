"""Prompts and completions over streamable HTTP, behind API keys, with the SDK's client:
each owner completes their own sandbox ids and paths, never another's."""

from __future__ import annotations

import httpx
from mcp_types import ResourceTemplateReference, TextContent

from tests.integration.http.conftest import HttpBay, mcp_http, mcp_sse

CARGO = ResourceTemplateReference(uri="cargo://{sandbox_id}/{+path}")


async def test_completions_and_prompts_are_each_owners_own(
    bay_http: HttpBay, alice: httpx.Client, bob: httpx.Client
) -> None:
    alices = alice.post("/v1/sandboxes", json={}).json()["id"]
    bobs = bob.post("/v1/sandboxes", json={}).json()["id"]
    written = alice.put(
        f"/v1/sandboxes/{alices}/filesystem/files",
        json={"path": "report/q3.csv", "content": "a,b\n"},
    )
    assert written.status_code == 200, written.text
    path = {"name": "path", "value": "report/"}
    async with mcp_http(bay_http, "alice") as client:
        ids = await client.complete(CARGO, {"name": "sandbox_id", "value": ""})
        assert alices in ids.completion.values
        assert bobs not in ids.completion.values
        paths = await client.complete(CARGO, path, {"sandbox_id": alices})
        assert paths.completion.values == ["report/q3.csv"]
        [message] = (
            await client.get_prompt(
                "start_web_app", {"sandbox_id": alices, "framework": "static", "port": "8080"}
            )
        ).messages
        assert isinstance(message.content, TextContent)
        assert "python3 -m http.server 8080" in message.content.text
    async with mcp_sse(bay_http, "bob") as client:
        ids = await client.complete(CARGO, {"name": "sandbox_id", "value": ""})
        assert bobs in ids.completion.values
        assert alices not in ids.completion.values
        guessed = await client.complete(CARGO, path, {"sandbox_id": alices})
        assert guessed.completion.values == []
        names = {prompt.name for prompt in (await client.list_prompts()).prompts}
        assert {"analyse_data_file", "start_web_app", "reproduce_bug"} <= names
    for rest, sandbox_id in ((alice, alices), (bob, bobs)):
        assert rest.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 204
