"""The sandbox tools: create, list, show, stop, delete a sandbox, extend its time to
live, and list the profiles it can be made from."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations as Hints
from pydantic import BaseModel, Field

from bay_mcp.limits import DEFAULT_PROFILE
from bay_mcp.mcp.arguments import SandboxId
from bay_mcp.mcp.confirmations import SandboxDeleteConfirmed, agreed, refusal
from bay_mcp.mcp.plumbing import Tool, call, caller, server_of
from bay_mcp.mcp.results import Confirmation
from bay_mcp.services.sandbox_inputs import (
    CargoName,
    ProfileName,
    SecretBinding,
    TtlExtension,
    TtlSeconds,
)
from bay_mcp.services.views import ProfileView, SandboxStatus, SandboxView
from ship.egress.rules import EgressPolicy


class ProfileList(BaseModel):
    profiles: list[ProfileView]


class SandboxList(BaseModel):
    sandboxes: list[SandboxView]


async def create_sandbox(
    ctx: Context[Any, Any],
    profile: Annotated[
        ProfileName, Field(description="Profile name (list_profiles shows them)")
    ] = DEFAULT_PROFILE,
    ttl_seconds: Annotated[
        TtlSeconds,
        Field(
            description="Delete the sandbox after this many seconds; omit or 0 "
            "to keep it until delete_sandbox",
        ),
    ] = None,
    cargo_id: Annotated[
        CargoName,
        Field(description="Attach an existing external cargo (volume) instead of a new one"),
    ] = None,
    env: Annotated[
        dict[str, str] | None,
        Field(
            description="Environment variables every process in the sandbox gets (e.g. "
            "an API key the task needs); names only are shown afterwards"
        ),
    ] = None,
    egress: Annotated[
        EgressPolicy | None,
        Field(
            description="Where its code may connect, narrowing the profile's policy: "
            '{"mode": "allowlist", "allow": ["pypi.org", "*.github.com"]}, '
            '{"mode": "open", "deny": [...]} or {"mode": "none"}'
        ),
    ] = None,
    secrets: Annotated[
        list[SecretBinding] | None,
        Field(
            description="Stored secrets (set_secret) its code uses without seeing them: "
            "the variable holds a placeholder that the egress proxy replaces by the value "
            "in HTTPS request headers to the given hosts only"
        ),
    ] = None,
) -> SandboxView:
    """Create a sandbox: an isolated Linux environment with Python 3 (numpy, pandas,
    matplotlib), bash and a persistent /workspace. Returns its sandbox_id. No
    container runs until the first exec or file call, which starts it (~1 s)."""
    bay, owner = await caller(ctx)
    return await call(
        bay.sandboxes.create(
            owner,
            profile=profile,
            ttl_seconds=ttl_seconds,
            cargo_id=cargo_id,
            env=env,
            egress=egress,
            secrets=secrets or (),
        )
    )


async def list_sandboxes(
    ctx: Context[Any, Any],
    status: Annotated[
        SandboxStatus | None,
        Field(description="Only sandboxes in this status: idle, starting, ready, failed, expired"),
    ] = None,
) -> SandboxList:
    """List your sandboxes with their status (idle: no container running; ready:
    running)."""
    bay, owner = await caller(ctx)
    page = await call(bay.sandboxes.list(owner, status))
    return SandboxList(sandboxes=page.items)


async def get_sandbox(ctx: Context[Any, Any], sandbox_id: SandboxId) -> SandboxView:
    """Show one sandbox: status, profile, capabilities, expiry, and its container."""
    bay, owner = await caller(ctx)
    return await call(bay.sandboxes.get(owner, sandbox_id))


async def stop_sandbox(ctx: Context[Any, Any], sandbox_id: SandboxId) -> Confirmation:
    """Stop the sandbox's container. Files in /workspace are kept; Python variables
    are lost. The next exec or file call starts it again."""
    bay, owner = await caller(ctx)
    await call(bay.sandboxes.stop(owner, sandbox_id))
    return Confirmation(
        sandbox_id=sandbox_id,
        status="stopped",
        message="The container is stopped; files in /workspace are kept.",
    )


async def delete_sandbox(
    ctx: Context[Any, Any], sandbox_id: SandboxId, confirmed: SandboxDeleteConfirmed
) -> Confirmation:
    """Delete the sandbox for good: its container and its files (unless its cargo was
    attached from outside). The sandbox_id stops working. The user may be asked to
    confirm first; status "kept" means they declined and nothing changed."""
    if not agreed(confirmed):
        return Confirmation(
            sandbox_id=sandbox_id, status="kept", message=refusal(confirmed, "Not deleted")
        )
    bay, owner = await caller(ctx)
    await call(bay.sandboxes.delete(owner, sandbox_id))
    return Confirmation(
        sandbox_id=sandbox_id,
        status="deleted",
        message="The sandbox and its files are deleted.",
    )


async def extend_sandbox_ttl(
    ctx: Context[Any, Any],
    sandbox_id: SandboxId,
    seconds: Annotated[TtlExtension, Field(description="Seconds to add to the expiry")],
) -> SandboxView:
    """Push back a sandbox's expiry (new expiry = max(old expiry, now) + seconds).
    Only for sandboxes created with a ttl_seconds; an expired sandbox cannot be
    revived."""
    bay, owner = await caller(ctx)
    return await call(bay.sandboxes.extend_ttl(owner, sandbox_id, seconds))


async def list_profiles(ctx: Context[Any, Any]) -> ProfileList:
    """List the sandbox profiles: image, CPU and memory limits, capabilities, idle
    timeout (after which an unused sandbox's container is stopped; files stay)."""
    bay = await call(server_of(ctx).ready())  # no owner: profiles are everyone's
    return ProfileList(profiles=bay.sandboxes.profiles())


# Sandboxes are Bay's own: a closed world.
MAKES = Hints(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
REMOVES = Hints(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
READS = Hints(read_only_hint=True, open_world_hint=False)

TOOLS = (
    Tool(create_sandbox, MAKES),
    Tool(list_sandboxes, READS),
    Tool(get_sandbox, READS),
    Tool(stop_sandbox, REMOVES),
    Tool(delete_sandbox, REMOVES),
    Tool(extend_sandbox_ttl, MAKES),  # each call adds its seconds again
    Tool(list_profiles, READS),
)
