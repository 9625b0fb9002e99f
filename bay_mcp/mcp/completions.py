"""`completion/complete`: the values a host offers as a person types an argument of the
`cargo://` template or of a prompt, translated from the completion service.

An argument is completed by its name, the same in the template and every prompt:
`sandbox_id` (the caller's sandboxes, newest first), `path` (in the cargo of the
`sandbox_id` already chosen), `profile`, `framework` (the prompts' list). Any other
reference or argument answers no values, as the protocol allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_types import (
    CompleteRequestParams,
    Completion,
    PromptReference,
    ResourceTemplateReference,
)

from bay_mcp.mcp import prompts, resources
from bay_mcp.services.completions import NONE, Choices, bounded

if TYPE_CHECKING:
    from bay_mcp.bay import Bay


async def complete(bay: Bay, owner: str, params: CompleteRequestParams) -> Completion:
    choices = await _choices(bay, owner, params) if _completes(params) else NONE
    return Completion(values=choices.values, total=choices.total, has_more=choices.has_more)


def _completes(params: CompleteRequestParams) -> bool:
    """Whether the reference is ours: the cargo template, or any prompt (a skill's
    name cannot be told from an unknown one without a query; its arguments are
    completed the same)."""
    ref = params.ref
    if isinstance(ref, ResourceTemplateReference):
        return ref.uri == resources.TEMPLATE
    return isinstance(ref, PromptReference)


async def _choices(bay: Bay, owner: str, params: CompleteRequestParams) -> Choices:
    name, value = params.argument.name, params.argument.value
    resolved = (params.context.arguments if params.context else None) or {}
    if name == "sandbox_id":
        return await bay.completions.sandbox_ids(owner, value)
    if name == "path":
        return await bay.completions.paths(owner, resolved.get("sandbox_id"), value)
    if name == "profile":
        return bay.completions.profile_ids(value)
    if name == "framework":
        return bounded(prompts.FRAMEWORKS, value)
    return NONE
