"""What the skill lifecycle answers: candidates, evaluations, releases, payloads, their
pages and a release's health. Field names are upstream Shipyard Neo's, so its SDK
reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

CandidateStatus = Literal["draft", "evaluating", "rejected", "promoted", "rolled_back"]
CANDIDATE_STATUSES: tuple[str, ...] = (
    "draft",
    "evaluating",
    "rejected",
    "promoted",
    "rolled_back",
)
ReleaseStage = Literal["canary", "stable"]


class SkillPayloadRef(BaseModel):
    payload_ref: str
    kind: str


class SkillPayloadView(BaseModel):
    payload_ref: str
    kind: str
    payload: dict[str, Any] | list[Any]


class SkillCandidateView(BaseModel):
    id: str
    skill_key: str
    scenario_key: str | None
    payload_ref: str | None
    # Upstream's fields for its browser-learning pipeline, which Bay has not: fixed.
    skill_type: str = "code"
    auto_release_eligible: bool = False
    auto_release_reason: str | None = None
    summary: str | None
    usage_notes: str | None
    preconditions: dict[str, Any] | None
    postconditions: dict[str, Any] | None
    source_execution_ids: list[str]
    status: str
    latest_score: float | None
    latest_pass: bool | None
    last_evaluated_at: datetime | None
    promotion_release_id: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    is_deleted: bool
    deleted_at: datetime | None
    deleted_by: str | None
    delete_reason: str | None


class SkillCandidatePage(BaseModel):
    items: list[SkillCandidateView]
    total: int


class SkillEvaluationView(BaseModel):
    id: str
    candidate_id: str
    benchmark_id: str | None
    score: float | None
    passed: bool
    report: str | None
    evaluated_by: str | None
    created_at: datetime


class SkillReleaseView(BaseModel):
    id: str
    skill_key: str
    candidate_id: str
    version: int
    stage: str
    is_active: bool
    release_mode: str
    promoted_by: str | None
    promoted_at: datetime
    rollback_of: str | None
    auto_promoted_from: str | None
    health_window_end_at: datetime | None
    upgrade_of_release_id: str | None
    upgrade_reason: str | None
    change_summary: str | None
    is_deleted: bool
    deleted_at: datetime | None
    deleted_by: str | None
    delete_reason: str | None


class SkillReleasePage(BaseModel):
    items: list[SkillReleaseView]
    total: int


class SkillDeleted(BaseModel):
    id: str
    deleted_at: datetime
    deleted_by: str | None
    delete_reason: str | None


class SkillReleaseHealth(BaseModel):
    """A release measured over its window (24 h from its promotion) by the runs tagged
    `release:<id>`, against the release before it."""

    release_id: str
    skill_key: str
    stage: str
    window_start_at: datetime
    window_end_at: datetime
    window_complete: bool
    samples: int
    success_rate: float
    error_rate: float
    p95_duration: int
    baseline_success_rate: float
    baseline_error_rate: float
    baseline_samples: int
    success_drop: float
    error_rate_multiplier: float
    healthy: bool
    should_rollback: bool
    rollback_reasons: list[str]
    thresholds: dict[str, float]
