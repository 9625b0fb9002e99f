"""The secret tools: an owner's named secrets (API tokens and the like) that Bay's egress
proxy puts in requests to the hosts bound to them. Code in a sandbox never sees a value,
and no tool returns one."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations as Hints
from pydantic import BaseModel, Field

from bay_mcp.limits import MAX_SECRET_VALUE_CHARS, SECRET_NAME_PATTERN
from bay_mcp.mcp.plumbing import Tool, call, caller
from bay_mcp.services.secret_views import SecretList, SecretView

SecretName = Annotated[
    str,
    Field(
        pattern=SECRET_NAME_PATTERN,
        description="The secret's name: letters, digits and '_', like an environment "
        "variable's (e.g. GITHUB_TOKEN)",
    ),
]


class SecretDeleted(BaseModel):
    name: str
    status: str
    message: str


async def set_secret(
    ctx: Context[Any, Any],
    name: SecretName,
    value: Annotated[
        str,
        Field(
            description="The value; stored encrypted, never shown again",
            # Published, but checked by the service: the SDK's own check would quote
            # the value back in its error.
            json_schema_extra={"minLength": 1, "maxLength": MAX_SECRET_VALUE_CHARS},
        ),
    ],
) -> SecretView:
    """Store a secret by name (replacing one so named). Its value is never returned nor
    readable in a sandbox: Bay's egress proxy adds it to requests to the hosts it is
    bound to."""
    bay, owner = await caller(ctx)
    return await call(bay.secrets.set(owner, name, value))


async def list_secrets(ctx: Context[Any, Any]) -> SecretList:
    """List your secrets: names and times, never values."""
    bay, owner = await caller(ctx)
    return SecretList(items=await call(bay.secrets.list(owner)))


async def delete_secret(ctx: Context[Any, Any], name: SecretName) -> SecretDeleted:
    """Delete a secret for good; requests that used it go out without it."""
    bay, owner = await caller(ctx)
    await call(bay.secrets.delete(owner, name))
    return SecretDeleted(name=name, status="deleted", message=f"The secret {name} is deleted.")


REPLACES = Hints(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
TOOLS = (
    Tool(set_secret, REPLACES),
    Tool(list_secrets, Hints(read_only_hint=True, open_world_hint=False)),
    Tool(delete_secret, REPLACES),  # deleting it again changes nothing more
)
