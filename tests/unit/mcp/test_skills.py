"""The skill tools in memory over the fakes, and released skills as resources and
prompts: a skill appears as `skill://{key}` and a prompt once released, and goes when
its release is deleted."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import Prompt, TextContent, TextResourceContents

from bay_mcp.bay import Bay
from bay_mcp.mcp.prompts import PROMPTS
from bay_mcp.mcp.server import BayMCPServer, create_mcp_server
from tests.unit.mcp.test_server import call, text_of


@pytest.fixture
def server(bay: Bay) -> BayMCPServer:
    async def ready() -> Bay:
        return bay

    return create_mcp_server(ready, lambda ctx: "alice")


WORKFLOWS = {prompt.function.__name__ for prompt in PROMPTS}


async def skill_prompts(client: Client) -> list[Prompt]:
    """The prompts beside the workflows every caller has."""
    return [p for p in (await client.list_prompts()).prompts if p.name not in WORKFLOWS]


async def structured(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await call(client, tool, **arguments)
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


async def test_runs_become_a_released_skill_offered_as_resource_and_prompt(
    server: BayMCPServer,
) -> None:
    async with Client(server) as client:
        sandbox = (await structured(client, "create_sandbox"))["id"]
        await call(client, "python_exec", sandbox_id=sandbox, code="print(6*7)")
        history = await structured(client, "get_execution_history", sandbox_id=sandbox)
        run_id = history["entries"][0]["id"]
        payload = await structured(client, "create_skill_payload", payload={"n": 7})
        got = await structured(client, "get_skill_payload", payload_ref=payload["payload_ref"])
        assert got["payload"] == {"n": 7}
        candidate = await structured(
            client,
            "create_skill_candidate",
            skill_key="answer",
            source_execution_ids=[run_id],
            summary="Print the answer",
            usage_notes="Run it when asked",
            payload_ref=payload["payload_ref"],
        )
        refused = await client.call_tool(
            "promote_skill_candidate", {"candidate_id": candidate["id"]}
        )
        assert refused.is_error
        assert "evaluate it first" in text_of(refused)
        await call(client, "evaluate_skill_candidate", candidate_id=candidate["id"], passed=True)
        assert await skill_prompts(client) == []
        release = await structured(
            client, "promote_skill_candidate", candidate_id=candidate["id"], stage="stable"
        )
        assert (release["version"], release["stage"]) == (1, "stable")

        listed = await client.list_resources()
        assert "skill://answer" in [str(r.uri) for r in listed.resources]
        [content] = (await client.read_resource("skill://answer")).contents
        assert isinstance(content, TextResourceContents)
        assert content.mime_type == "text/markdown"
        assert content.text.startswith('---\nname: "answer"\ndescription: "Print the answer"\n---')
        assert "```python\nprint(6*7)\n```" in content.text
        assert "Run it when asked" in content.text
        [prompt] = await skill_prompts(client)
        assert (prompt.name, prompt.description) == ("answer", "Print the answer")
        assert [argument.name for argument in prompt.arguments or []] == ["sandbox_id"]
        assert prompt.icons
        [message] = (await client.get_prompt("answer")).messages
        assert isinstance(message.content, TextContent)
        assert "print(6*7)" in message.content.text
        assert "create_sandbox" in message.content.text
        [message] = (await client.get_prompt("answer", {"sandbox_id": sandbox})).messages
        assert isinstance(message.content, TextContent)
        assert f"in sandbox {sandbox}" in message.content.text

        page = await structured(client, "list_skill_releases", skill_key="answer")
        assert page["total"] == 1
        await call(client, "delete_skill_release", release_id=release["id"])
        assert await skill_prompts(client) == []
        with pytest.raises(MCPError, match="no active release"):
            await client.read_resource("skill://answer")
        with pytest.raises(MCPError, match="no active release"):
            await client.get_prompt("answer")
        await call(client, "delete_skill_candidate", candidate_id=candidate["id"])
        assert (await structured(client, "list_skill_candidates"))["total"] == 0


async def test_a_candidate_of_unknown_runs_is_a_tool_error_naming_them(
    server: BayMCPServer,
) -> None:
    async with Client(server) as client:
        result = await client.call_tool(
            "create_skill_candidate", {"skill_key": "x", "source_execution_ids": ["exec-gone"]}
        )
        assert result.is_error
        assert "exec-gone" in text_of(result)
