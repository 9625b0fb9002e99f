"""Prompts and completions against the real `bay-mcp` over stdio, with the SDK's client:
the workflows list and render, a sandbox id completes to the new sandbox, a path to the
file a run wrote in it, also once the sandbox is stopped (read at rest: it stays
stopped)."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp_types import PromptReference, ResourceTemplateReference, TextContent

from tests.integration.mcp.conftest import call, new_sandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")  # the module's client's loop
CARGO = ResourceTemplateReference(uri="cargo://{sandbox_id}/{+path}")


async def test_prompts_list_and_render(client: Client) -> None:
    listed = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
    assert {"analyse_data_file", "start_web_app", "reproduce_bug"} <= set(listed)
    assert all(prompt.icons for prompt in listed.values())
    got = await client.get_prompt(
        "analyse_data_file", {"sandbox_id": "sandbox-x", "path": "data/sales.csv"}
    )
    [message] = got.messages
    assert isinstance(message.content, TextContent)
    assert "data/sales.csv" in message.content.text
    assert "python_exec" in message.content.text
    assert client.server_capabilities.completions is not None


async def test_a_sandbox_id_and_a_path_complete_in_a_real_sandbox(client: Client) -> None:
    sandbox_id = await new_sandbox(client)
    await call(
        client,
        "shell_exec",
        sandbox_id=sandbox_id,
        command="mkdir -p data/raw && echo a,b > data/sales.csv && echo 1 > data/stock.json",
    )
    ids = await client.complete(CARGO, {"name": "sandbox_id", "value": sandbox_id[:10]})
    assert ids.completion.values[0] == sandbox_id  # the newest first
    prompted = await client.complete(
        PromptReference(name="start_web_app"), {"name": "sandbox_id", "value": sandbox_id}
    )
    assert prompted.completion.values == [sandbox_id]

    path = {"name": "path", "value": "data/s"}
    running = await client.complete(CARGO, path, {"sandbox_id": sandbox_id})
    assert running.completion.values == ["data/sales.csv", "data/stock.json"]
    top = await client.complete(CARGO, {"name": "path", "value": ""}, {"sandbox_id": sandbox_id})
    assert "data/" in top.completion.values

    await call(client, "stop_sandbox", sandbox_id=sandbox_id)
    at_rest = await client.complete(CARGO, path, {"sandbox_id": sandbox_id})
    assert at_rest.completion.values == ["data/sales.csv", "data/stock.json"]
    stopped = await call(client, "get_sandbox", sandbox_id=sandbox_id)
    assert stopped.structured_content is not None
    assert stopped.structured_content["status"] == "idle"
    await call(client, "delete_sandbox", sandbox_id=sandbox_id)
    gone = await client.complete(CARGO, {"name": "sandbox_id", "value": sandbox_id})
    assert gone.completion.values == []
