"""The skill tools: turn runs of the history into versioned skills. A payload stores
JSON, a candidate names runs, an evaluation gates promotion, a release is a version
(canary or stable) that a rollback can replace. Names are upstream Shipyard Neo's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations as Hints
from pydantic import Field

from bay_mcp.limits import (
    MAX_SKILL_KEY_CHARS,
    MAX_SKILL_PAGE,
    MAX_SKILL_SOURCES,
    MAX_SKILL_TEXT_CHARS,
)
from bay_mcp.mcp.plumbing import Tool, call, caller
from bay_mcp.services.skill_views import (
    CandidateStatus,
    SkillCandidatePage,
    SkillCandidateView,
    SkillDeleted,
    SkillEvaluationView,
    SkillPayloadRef,
    SkillPayloadView,
    SkillReleasePage,
    SkillReleaseView,
)

SkillKey = Annotated[
    str,
    Field(
        max_length=MAX_SKILL_KEY_CHARS,
        description="The skill's name: letters, digits, '-', '_', '.' (e.g. csv-summary)",
    ),
]
Text = Annotated[str | None, Field(max_length=MAX_SKILL_TEXT_CHARS)]
CandidateId = Annotated[str, Field(description="A candidate's id (sc-…)")]
ReleaseId = Annotated[str, Field(description="A release's id (sr-…)")]
Stage = Literal["canary", "stable"]
Limit = Annotated[int, Field(ge=1, le=MAX_SKILL_PAGE, description="At most this many")]
Offset = Annotated[int, Field(ge=0, description="Skip this many")]
Reason = Annotated[Text, Field(description="Why it is deleted (kept with it)")]


async def create_skill_payload(
    ctx: Context[Any, Any],
    payload: Annotated[dict[str, Any] | list[Any], Field(description="JSON object or array")],
    kind: Annotated[str, Field(min_length=1, max_length=MAX_SKILL_KEY_CHARS)] = "generic",
) -> SkillPayloadRef:
    """Store a JSON payload (e.g. a skill's parameters or steps) for a skill candidate;
    returns its payload_ref (blob:…) to pass to create_skill_candidate."""
    bay, owner = await caller(ctx)
    return await call(bay.skills.create_payload(owner, payload, kind))


async def get_skill_payload(
    ctx: Context[Any, Any],
    payload_ref: Annotated[str, Field(description="A blob:… ref create_skill_payload gave")],
) -> SkillPayloadView:
    """Read a stored skill payload by its payload_ref."""
    bay, owner = await caller(ctx)
    return await call(bay.skills.get_payload(owner, payload_ref))


async def create_skill_candidate(
    ctx: Context[Any, Any],
    skill_key: SkillKey,
    source_execution_ids: Annotated[
        list[str],
        Field(
            min_length=1,
            max_length=MAX_SKILL_SOURCES,
            description="execution_ids of the runs (from get_execution_history) the skill is",
        ),
    ],
    summary: Annotated[Text, Field(description="What the skill does, in a sentence")] = None,
    usage_notes: Annotated[Text, Field(description="How and when to use it")] = None,
    preconditions: Annotated[
        dict[str, Any] | None, Field(description="What must hold before (JSON object)")
    ] = None,
    postconditions: Annotated[
        dict[str, Any] | None, Field(description="What holds after (JSON object)")
    ] = None,
    payload_ref: Annotated[str | None, Field(description="A blob:… payload to attach")] = None,
    scenario_key: Annotated[str | None, Field(max_length=MAX_SKILL_KEY_CHARS)] = None,
) -> SkillCandidateView:
    """Propose a skill from runs that worked: a draft candidate to evaluate, then
    promote. The runs must be in your execution history."""
    bay, owner = await caller(ctx)
    return await call(
        bay.skills.create_candidate(
            owner,
            skill_key,
            source_execution_ids,
            scenario_key=scenario_key,
            payload_ref=payload_ref,
            summary=summary,
            usage_notes=usage_notes,
            preconditions=preconditions,
            postconditions=postconditions,
        )
    )


async def evaluate_skill_candidate(
    ctx: Context[Any, Any],
    candidate_id: CandidateId,
    passed: Annotated[bool, Field(description="Whether the skill did its job when tried")],
    score: Annotated[float | None, Field(description="A score, e.g. 0–1")] = None,
    report: Annotated[Text, Field(description="What was tried and what came of it")] = None,
    benchmark_id: Annotated[str | None, Field(max_length=256)] = None,
) -> SkillEvaluationView:
    """Record an evaluation of a candidate. Only a candidate whose last evaluation
    passed can be promoted; a failing one is rejected until one passes."""
    bay, owner = await caller(ctx)
    return await call(
        bay.skills.evaluate_candidate(
            owner,
            candidate_id,
            passed=passed,
            score=score,
            benchmark_id=benchmark_id,
            report=report,
        )
    )


async def promote_skill_candidate(
    ctx: Context[Any, Any],
    candidate_id: CandidateId,
    stage: Annotated[Stage, Field(description="canary to try it, stable when trusted")] = "canary",
    change_summary: Annotated[Text, Field(description="What changed from the last")] = None,
) -> SkillReleaseView:
    """Release an evaluated candidate as its skill's next version, the active one."""
    bay, owner = await caller(ctx)
    return await call(
        bay.skills.promote_candidate(
            owner, candidate_id, stage=stage, change_summary=change_summary
        )
    )


async def list_skill_candidates(
    ctx: Context[Any, Any],
    status: Annotated[CandidateStatus | None, Field(description="Only in this state")] = None,
    skill_key: Annotated[str | None, Field(description="Only of this skill")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> SkillCandidatePage:
    """List your skill candidates, newest first, with the total."""
    bay, owner = await caller(ctx)
    return await call(
        bay.skills.list_candidates(
            owner, status=status, skill_key=skill_key, limit=limit, offset=offset
        )
    )


async def list_skill_releases(
    ctx: Context[Any, Any],
    skill_key: Annotated[str | None, Field(description="Only of this skill")] = None,
    active_only: Annotated[bool, Field(description="Only the active release of each")] = False,
    stage: Annotated[Stage | None, Field(description="Only canary or stable ones")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> SkillReleasePage:
    """List your skill releases, newest version first, with the total."""
    bay, owner = await caller(ctx)
    return await call(
        bay.skills.list_releases(
            owner,
            skill_key=skill_key,
            active_only=active_only,
            stage=stage,
            limit=limit,
            offset=offset,
        )
    )


async def rollback_skill_release(ctx: Context[Any, Any], release_id: ReleaseId) -> SkillReleaseView:
    """Undo a release: a new version, active, of the release before it."""
    bay, owner = await caller(ctx)
    return await call(bay.skills.rollback_release(owner, release_id))


async def delete_skill_release(
    ctx: Context[Any, Any], release_id: ReleaseId, reason: Reason = None
) -> SkillDeleted:
    """Delete a release; its skill has no active release until another is promoted."""
    bay, owner = await caller(ctx)
    return await call(bay.skills.delete_release(owner, release_id, reason))


async def delete_skill_candidate(
    ctx: Context[Any, Any], candidate_id: CandidateId, reason: Reason = None
) -> SkillDeleted:
    """Delete a candidate (not while an active release uses it)."""
    bay, owner = await caller(ctx)
    return await call(bay.skills.delete_candidate(owner, candidate_id, reason))


# Skills are Bay's records: a closed world. Deleting one again changes nothing more.
_WRITES = Hints(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
_DELETES = Hints(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
_READS = Hints(read_only_hint=True, open_world_hint=False)
TOOLS = (
    Tool(create_skill_payload, _WRITES),
    Tool(get_skill_payload, _READS),
    Tool(create_skill_candidate, _WRITES),
    Tool(evaluate_skill_candidate, _WRITES),
    Tool(promote_skill_candidate, _WRITES),
    Tool(list_skill_candidates, _READS),
    Tool(list_skill_releases, _READS),
    Tool(rollback_skill_release, _WRITES),
    Tool(delete_skill_release, _DELETES),
    Tool(delete_skill_candidate, _DELETES),
)
