"""Released skills as MCP offers them: each active release of the caller's is a
resource `skill://{skill_key}` (its SKILL.md) and a prompt of the same name, so a host
can list them and hand one to the model (with the sandbox to use it in, optionally).
Rendering is the service's (`services/skill_documents.py`); here it is only wrapped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_types import (
    GetPromptResult,
    Prompt,
    PromptArgument,
    PromptMessage,
    Resource,
    TextContent,
)

from bay_mcp.mcp import icons

if TYPE_CHECKING:
    from bay_mcp.bay import Bay

SCHEME = "skill://"
TEMPLATE = SCHEME + "{skill_key}"
MIME_TYPE = "text/markdown"
SANDBOX_ARGUMENT = PromptArgument(
    name="sandbox_id", description="The sandbox to use it in; none: create one", required=False
)


def skill_key_of(uri: str) -> str:
    return uri.removeprefix(SCHEME).strip("/")


async def skill_resources(bay: Bay, owner: str) -> list[Resource]:
    return [
        Resource(
            uri=SCHEME + document.name,
            name=f"{document.name} skill",
            description=document.description,
            mime_type=MIME_TYPE,
        )
        for document in await bay.skills.skill_documents(owner)
    ]


async def read_skill(bay: Bay, owner: str, uri: str) -> str:
    """The SKILL.md; NotFound when the skill has no active release."""
    return (await bay.skills.skill_document(owner, skill_key_of(uri))).text


async def skill_prompts(bay: Bay, owner: str) -> list[Prompt]:
    return [
        Prompt(
            name=document.name,
            description=document.description,
            arguments=[SANDBOX_ARGUMENT],
            icons=icons.ICONS["skills"],
        )
        for document in await bay.skills.skill_documents(owner)
    ]


async def skill_prompt(
    bay: Bay, owner: str, name: str, arguments: dict[str, str]
) -> GetPromptResult:
    """The skill's SKILL.md as a user message; NotFound when it has no active release."""
    document = await bay.skills.skill_document(owner, name)
    sandbox_id = arguments.get("sandbox_id")
    where = (
        f" in sandbox {sandbox_id}"
        if sandbox_id
        else " in a sandbox (create one with create_sandbox if you have none)"
    )
    text = f"Use the {document.name} skill below{where}.\n\n{document.text}"
    return GetPromptResult(
        description=document.description,
        messages=[PromptMessage(role="user", content=TextContent(type="text", text=text))],
    )
