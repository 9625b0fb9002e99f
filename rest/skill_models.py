"""Bodies and queries of `/v1/skills`: upstream Shipyard Neo's field names, so its SDK's
requests parse here. Query parameters sent empty (`?status=`, as some clients send an
unset one) mean unset."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from bay_mcp.limits import (
    MAX_SKILL_KEY_CHARS,
    MAX_SKILL_PAGE,
    MAX_SKILL_SOURCES,
    MAX_SKILL_TEXT_CHARS,
)
from bay_mcp.services.skill_views import CandidateStatus, ReleaseStage
from rest.models import Strict


def _unset_if_empty(value: object) -> object:
    return None if value == "" else value


Text = Annotated[str | None, Field(None, max_length=MAX_SKILL_TEXT_CHARS)]
Conditions = Annotated[dict[str, Any] | None, Field(None, description="a JSON object")]


class CreateSkillPayloadBody(Strict):
    payload: dict[str, Any] | list[Any] = Field(description="JSON object or array")
    kind: str = Field("generic", min_length=1, max_length=MAX_SKILL_KEY_CHARS)


class CreateSkillCandidateBody(Strict):
    skill_key: str = Field(min_length=1, max_length=MAX_SKILL_KEY_CHARS)
    source_execution_ids: list[str] = Field(
        min_length=1,
        max_length=MAX_SKILL_SOURCES,
        description="execution_ids of runs in your history",
    )
    scenario_key: str | None = Field(None, max_length=MAX_SKILL_KEY_CHARS)
    payload_ref: str | None = Field(None, max_length=256, description="blob:<id>")
    summary: Text = None
    usage_notes: Text = None
    preconditions: Conditions = None
    postconditions: Conditions = None


class SkillCandidateQuery(Strict):
    status: Annotated[CandidateStatus | None, BeforeValidator(_unset_if_empty)] = None
    skill_key: Annotated[str | None, BeforeValidator(_unset_if_empty)] = None
    limit: int = Field(100, ge=1, le=MAX_SKILL_PAGE)
    offset: int = Field(0, ge=0)


class EvaluateSkillBody(Strict):
    passed: bool
    score: float | None = None
    benchmark_id: str | None = Field(None, max_length=256)
    report: Text = None


class PromoteSkillBody(Strict):
    stage: ReleaseStage = "canary"
    upgrade_of_release_id: str | None = None
    upgrade_reason: Text = None
    change_summary: Text = None


class SkillReleaseQuery(Strict):
    skill_key: Annotated[str | None, BeforeValidator(_unset_if_empty)] = None
    active_only: bool = False
    stage: Annotated[ReleaseStage | None, BeforeValidator(_unset_if_empty)] = None
    limit: int = Field(100, ge=1, le=MAX_SKILL_PAGE)
    offset: int = Field(0, ge=0)


class DeleteSkillBody(Strict):
    reason: Text = None
