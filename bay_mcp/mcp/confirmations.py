"""Asking the person before a step that loses files, by MCP elicitation.

`delete_sandbox`, `restore_snapshot` and `delete_snapshot` take a parameter filled by
one of the resolvers below (the SDK's `Resolve`), never by the model: the resolver
asks the service what the step would lose (`services/confirmations.py`) and, when
something would be, returns the question as an `Elicit`. The SDK carries it the way
the negotiated protocol does: at 2026-07-28 as an `InputRequiredResult` the client
answers by calling again (any transport, stateless HTTP included); before it as an
`elicitation/create` request in the middle of the call, which needs a channel back to
the client (stdio, SSE, stateful streamable HTTP; not stateless HTTP).

Nothing is asked, and the step runs as it always did, when BAY_CONFIRM_DESTRUCTIVE is
false, when the client declared no form elicitation, or when the protocol gives no way
to ask. A person who declines is a normal outcome, not an error: the tool answers
with status `kept` and says nothing changed, so the model reports it instead of
retrying around it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    Elicit,
    ElicitationResult,
    Resolve,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from bay_mcp.mcp.plumbing import call, caller, server_of

# The first revision that asks through the result (`InputRequiredResult`), so it needs
# no request from server to client in the middle of a call.
ASKS_BY_RESULT = "2026-07-28"


class Confirm(BaseModel):
    """The form the person answers: one box, ticked to go ahead."""

    confirm: bool = Field(
        default=True, title="Go ahead", description="Tick to go ahead; untick to keep everything"
    )


AGREED = Confirm(confirm=True)


def can_ask(ctx: Context[Any, Any]) -> bool:
    """Whether this call can put a question to the person: the client takes form
    elicitation, and the protocol has a way to carry it on this transport."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare `elicitation: {}` (before modes existed) means forms; url-only does not.
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    version = ctx.protocol_version
    if version is not None and is_version_at_least(version, ASKS_BY_RESULT):
        return True
    return bool(ctx.session.can_send_request)


async def _ask(
    ctx: Context[Any, Any], question: Callable[[Any, str], Awaitable[str | None]]
) -> Confirm | Elicit[Confirm]:
    bay = await call(server_of(ctx).ready())
    if not bay.settings.confirm_destructive or not can_ask(ctx):
        return AGREED
    _, owner = await caller(ctx)
    asked = await call(question(bay, owner))
    return AGREED if asked is None else Elicit(asked, Confirm)


async def sandbox_delete_question(
    ctx: Context[Any, Any], sandbox_id: str
) -> Confirm | Elicit[Confirm]:
    """Before delete_sandbox: its files and snapshots."""
    return await _ask(
        ctx, lambda bay, owner: bay.confirmations.before_sandbox_delete(owner, sandbox_id)
    )


async def restore_question(
    ctx: Context[Any, Any], sandbox_id: str, snapshot_id: str
) -> Confirm | Elicit[Confirm]:
    """Before restore_snapshot: the files changed since the snapshot."""
    return await _ask(
        ctx, lambda bay, owner: bay.confirmations.before_restore(owner, sandbox_id, snapshot_id)
    )


async def snapshot_delete_question(
    ctx: Context[Any, Any], sandbox_id: str, snapshot_id: str
) -> Confirm | Elicit[Confirm]:
    """Before delete_snapshot: the snapshot's files."""
    return await _ask(
        ctx,
        lambda bay, owner: bay.confirmations.before_snapshot_delete(owner, sandbox_id, snapshot_id),
    )


Answer = ElicitationResult[Confirm]
SandboxDeleteConfirmed = Annotated[Answer, Resolve(sandbox_delete_question)]
RestoreConfirmed = Annotated[Answer, Resolve(restore_question)]
SnapshotDeleteConfirmed = Annotated[Answer, Resolve(snapshot_delete_question)]


def agreed(answer: Answer) -> bool:
    """Whether to go ahead: nothing was asked, or the person accepted with the box ticked."""
    return isinstance(answer, AcceptedElicitation) and answer.data.confirm


def refusal(answer: Answer, not_done: str) -> str:
    """What the model reads when the person said no: `not_done` ("Not deleted"), why,
    and that nothing changed."""
    why = (
        "the user dismissed the question"
        if isinstance(answer, CancelledElicitation)
        else "the user declined"
    )
    return f"{not_done}: {why}. Nothing was changed. Do not try again unless the user asks for it."
