"""The skill lifecycle: runs of the history become versioned skills.

An owner stores JSON payloads (`blob:<id>`), proposes a candidate from runs of its
history (they must exist and be its own), records evaluations, and promotes a
candidate whose last evaluation passed to a release (`canary` or `stable`). Each
promotion is the skill's next version and its only active release; a rollback is a new
release pointing back (`rollback_of`) that reinstates the previous release's candidate.
Deleting marks the row (upstream keeps deleted rows); an active release's candidate
cannot be deleted. Everything is per owner: another owner's ids are `not_found`.

Shapes and rules follow upstream Shipyard Neo's `/v1/skills`, so its SDK works here.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from bay_mcp.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from bay_mcp.limits import (
    MAX_SKILL_KEY_CHARS,
    MAX_SKILL_PAGE,
    MAX_SKILL_PAYLOAD_BYTES,
    MAX_SKILL_SOURCES,
)
from bay_mcp.services import skill_health
from bay_mcp.services.changes import Changes
from bay_mcp.services.history import HistoryService
from bay_mcp.services.skill_documents import SkillDocument, skill_document
from bay_mcp.services.skill_views import (
    CANDIDATE_STATUSES,
    SkillCandidatePage,
    SkillCandidateView,
    SkillDeleted,
    SkillEvaluationView,
    SkillPayloadRef,
    SkillPayloadView,
    SkillReleaseHealth,
    SkillReleasePage,
    SkillReleaseView,
)
from bay_mcp.storage.database import Database
from bay_mcp.storage.models import (
    Execution,
    SkillCandidate,
    SkillEvaluation,
    SkillPayload,
    SkillRelease,
    utcnow,
)
from bay_mcp.storage.skills import CandidateFilter, ReleaseFilter, SkillRepository

BLOB_PREFIX = "blob:"
STAGES = ("canary", "stable")
HEALTH_WINDOW = timedelta(hours=24)
# A skill key names a skill:// resource and a prompt: letters, digits, - _ . only.
SKILL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_skill_key(skill_key: str) -> str:
    key = skill_key.strip()
    if not key or len(key) > MAX_SKILL_KEY_CHARS or not SKILL_KEY.fullmatch(key):
        raise ValidationFailed(
            f"skill_key must be 1–{MAX_SKILL_KEY_CHARS} letters, digits, '-', '_' or '.' "
            f"starting with a letter or digit, got {skill_key!r}",
            {"fields": ["skill_key"], "field": "skill_key"},
        )
    return key


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_SKILL_PAGE or offset < 0:
        raise ValidationFailed(
            f"limit must be 1–{MAX_SKILL_PAGE} and offset ≥ 0",
            {"fields": ["limit", "offset"], "field": "limit"},
        )


def _check_stage(stage: str | None) -> str | None:
    if stage is not None and stage not in STAGES:
        raise ValidationFailed(
            f"stage must be canary or stable, got {stage!r}",
            {"fields": ["stage"], "field": "stage"},
        )
    return stage


def _blob_id(payload_ref: str) -> str:
    if not payload_ref.startswith(BLOB_PREFIX) or payload_ref == BLOB_PREFIX:
        raise ValidationFailed(
            f"payload_ref must be a 'blob:<id>' create_skill_payload gave, got {payload_ref!r}",
            {"fields": ["payload_ref"], "field": "payload_ref"},
        )
    return payload_ref.removeprefix(BLOB_PREFIX)


def candidate_view(row: SkillCandidate) -> SkillCandidateView:
    return SkillCandidateView.model_validate(row.model_dump())


def release_view(row: SkillRelease) -> SkillReleaseView:
    return SkillReleaseView.model_validate(row.model_dump())


class SkillService:
    def __init__(
        self, db: Database, history: HistoryService, changes: Changes | None = None
    ) -> None:
        self._rows = SkillRepository(db)
        self._history = history
        # Released skills are prompts and resources: a release or withdrawal changes both.
        self._changes = changes or Changes()

    # -- payloads ---------------------------------------------------------------------

    async def create_payload(
        self, owner: str, payload: dict[str, Any] | list[Any], kind: str = "generic"
    ) -> SkillPayloadRef:
        """Store a JSON object or array; its `blob:<id>` ref. PayloadTooLarge past
        MAX_SKILL_PAYLOAD_BYTES."""
        size = len(json.dumps(payload, ensure_ascii=False).encode())
        if size > MAX_SKILL_PAYLOAD_BYTES:
            raise PayloadTooLarge(
                f"the payload is {size} bytes of JSON, over the {MAX_SKILL_PAYLOAD_BYTES} limit",
                {"limit_bytes": MAX_SKILL_PAYLOAD_BYTES},
            )
        if not kind.strip():
            raise ValidationFailed("kind must not be empty", {"fields": ["kind"]})
        row = SkillPayload(owner=owner, kind=kind.strip(), payload=payload)
        await self._rows.add(row)
        return SkillPayloadRef(payload_ref=BLOB_PREFIX + row.id, kind=row.kind)

    async def get_payload(self, owner: str, payload_ref: str) -> SkillPayloadView:
        row = await self._rows.payload(owner, _blob_id(payload_ref))
        if row is None:
            raise NotFound(f"skill payload {payload_ref} not found")
        return SkillPayloadView(payload_ref=payload_ref, kind=row.kind, payload=row.payload)

    # -- candidates -------------------------------------------------------------------

    async def create_candidate(
        self,
        owner: str,
        skill_key: str,
        source_execution_ids: list[str],
        *,
        scenario_key: str | None = None,
        payload_ref: str | None = None,
        summary: str | None = None,
        usage_notes: str | None = None,
        preconditions: dict[str, Any] | None = None,
        postconditions: dict[str, Any] | None = None,
    ) -> SkillCandidateView:
        """A draft candidate from runs of the owner's history. ValidationFailed when a
        run is not there (never made, another owner's, or dropped past the history's
        cap) or the payload_ref is not the owner's."""
        key = check_skill_key(skill_key)
        ids = list(dict.fromkeys(i.strip() for i in source_execution_ids if i.strip()))
        if not ids or len(ids) > MAX_SKILL_SOURCES:
            raise ValidationFailed(
                f"source_execution_ids must name 1–{MAX_SKILL_SOURCES} runs of your history",
                {"fields": ["source_execution_ids"], "field": "source_execution_ids"},
            )
        await self._history.flush()  # a run just made is in the history
        found = {row.id for row in await self._rows.executions(owner, ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationFailed(
                f"execution(s) not found in your history: {', '.join(missing)} "
                "(get_execution_history lists a sandbox's runs; old ones are dropped past "
                "the cap, and a deleted sandbox's go with it)",
                {"fields": ["source_execution_ids"], "missing": missing},
            )
        if payload_ref is not None:
            await self.get_payload(owner, payload_ref)
        row = SkillCandidate(
            owner=owner,
            skill_key=key,
            scenario_key=scenario_key,
            payload_ref=payload_ref,
            summary=summary,
            usage_notes=usage_notes,
            preconditions=preconditions,
            postconditions=postconditions,
            source_execution_ids=ids,
            created_by=owner,
        )
        await self._rows.add(row)
        return candidate_view(row)

    async def _candidate(self, owner: str, candidate_id: str) -> SkillCandidate:
        row = await self._rows.candidate(owner, candidate_id)
        if row is None:
            raise NotFound(f"skill candidate {candidate_id} not found")
        return row

    async def get_candidate(self, owner: str, candidate_id: str) -> SkillCandidateView:
        return candidate_view(await self._candidate(owner, candidate_id))

    async def list_candidates(
        self,
        owner: str,
        *,
        status: str | None = None,
        skill_key: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> SkillCandidatePage:
        """The owner's candidates, newest first."""
        _check_page(limit, offset)
        if status is not None and status not in CANDIDATE_STATUSES:
            raise ValidationFailed(
                f"status must be one of {', '.join(CANDIDATE_STATUSES)}, got {status!r}",
                {"fields": ["status"], "field": "status"},
            )
        which = CandidateFilter(owner=owner, status=status, skill_key=skill_key)
        total, rows = await self._rows.candidates(which, limit, offset)
        return SkillCandidatePage(items=[candidate_view(row) for row in rows], total=total)

    async def evaluate_candidate(
        self,
        owner: str,
        candidate_id: str,
        *,
        passed: bool,
        score: float | None = None,
        benchmark_id: str | None = None,
        report: str | None = None,
    ) -> SkillEvaluationView:
        """Record an evaluation; a failing one rejects the candidate (until one passes)."""
        candidate = await self._candidate(owner, candidate_id)
        now = utcnow()
        evaluation = SkillEvaluation(
            owner=owner,
            candidate_id=candidate.id,
            benchmark_id=benchmark_id,
            score=score,
            passed=passed,
            report=report,
            evaluated_by=owner,
            created_at=now,
        )
        candidate.latest_score = score
        candidate.latest_pass = passed
        candidate.last_evaluated_at = now
        candidate.updated_at = now
        if candidate.status != "promoted":
            candidate.status = "evaluating" if passed else "rejected"
        await self._rows.save(candidate, evaluation)
        return SkillEvaluationView.model_validate(evaluation.model_dump())

    async def promote_candidate(
        self,
        owner: str,
        candidate_id: str,
        *,
        stage: str = "canary",
        upgrade_of_release_id: str | None = None,
        upgrade_reason: str | None = None,
        change_summary: str | None = None,
    ) -> SkillReleaseView:
        """Release the candidate as its skill's next version, the active one. Conflict
        unless its last evaluation passed."""
        _check_stage(stage)
        candidate = await self._candidate(owner, candidate_id)
        if candidate.latest_pass is not True:
            said = "failed" if candidate.latest_pass is False else "has not been made"
            raise Conflict(
                f"candidate {candidate_id} cannot be promoted: its last evaluation {said}; "
                "evaluate it first (evaluate_skill_candidate with passed=true)",
                {"candidate_id": candidate_id},
            )
        if upgrade_of_release_id is not None:
            await self._release(owner, upgrade_of_release_id)
        release = SkillRelease(
            owner=owner,
            skill_key=candidate.skill_key,
            candidate_id=candidate.id,
            version=0,  # set in the transaction that makes it
            stage=stage,
            promoted_by=owner,
            upgrade_of_release_id=upgrade_of_release_id,
            upgrade_reason=upgrade_reason,
            change_summary=change_summary,
        )
        candidate.status = "promoted"
        candidate.promotion_release_id = release.id
        candidate.updated_at = utcnow()
        released = release_view(await self._rows.release_new(release, [candidate]))
        await self._changes.skills(owner)
        return released

    async def delete_candidate(
        self, owner: str, candidate_id: str, reason: str | None = None
    ) -> SkillDeleted:
        """Mark the candidate deleted. Conflict while an active release uses it."""
        candidate = await self._candidate(owner, candidate_id)
        _, active = await self._rows.releases(
            ReleaseFilter(owner=owner, skill_key=candidate.skill_key, active_only=True), 1, 0
        )
        if any(release.candidate_id == candidate.id for release in active):
            raise Conflict(
                f"candidate {candidate_id} is the active release of {candidate.skill_key}: "
                "delete or roll back that release first",
                {"candidate_id": candidate_id},
            )
        candidate.is_deleted = True
        candidate.deleted_at = utcnow()
        candidate.deleted_by = owner
        candidate.delete_reason = reason
        await self._rows.save(candidate)
        return SkillDeleted.model_validate(candidate.model_dump())

    # -- releases ---------------------------------------------------------------------

    async def _release(self, owner: str, release_id: str) -> SkillRelease:
        row = await self._rows.release(owner, release_id)
        if row is None:
            raise NotFound(f"skill release {release_id} not found")
        return row

    async def get_release(self, owner: str, release_id: str) -> SkillReleaseView:
        return release_view(await self._release(owner, release_id))

    async def list_releases(
        self,
        owner: str,
        *,
        skill_key: str | None = None,
        active_only: bool = False,
        stage: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> SkillReleasePage:
        """The owner's releases, newest version first."""
        _check_page(limit, offset)
        which = ReleaseFilter(
            owner=owner, skill_key=skill_key, active_only=active_only, stage=_check_stage(stage)
        )
        total, rows = await self._rows.releases(which, limit, offset)
        return SkillReleasePage(items=[release_view(row) for row in rows], total=total)

    async def rollback_release(self, owner: str, release_id: str) -> SkillReleaseView:
        """A new release (the next version, active) of the candidate of the release
        before this one, with `rollback_of` naming this one. Conflict when there is no
        release before it."""
        current = await self._release(owner, release_id)
        previous = await self._rows.previous_release(
            owner, current.skill_key, current.version, with_deleted=False
        )
        if previous is None:
            raise Conflict(
                f"release {release_id} has no earlier release of {current.skill_key} "
                "to roll back to",
                {"release_id": release_id},
            )
        rollback = SkillRelease(
            owner=owner,
            skill_key=current.skill_key,
            candidate_id=previous.candidate_id,
            version=0,  # set in the transaction that makes it
            stage=previous.stage,
            promoted_by=owner,
            rollback_of=current.id,
        )
        changed: list[SkillCandidate] = []
        rolled_back = await self._rows.candidate(owner, current.candidate_id)
        if rolled_back is not None and rolled_back.id != previous.candidate_id:
            rolled_back.status = "rolled_back"
            rolled_back.updated_at = utcnow()
            changed.append(rolled_back)
        released = release_view(await self._rows.release_new(rollback, changed))
        await self._changes.skills(owner)
        return released

    async def delete_release(
        self, owner: str, release_id: str, reason: str | None = None
    ) -> SkillDeleted:
        """Mark the release deleted (and inactive: its skill then has no active release
        until another is promoted)."""
        release = await self._release(owner, release_id)
        release.is_active = False
        release.is_deleted = True
        release.deleted_at = utcnow()
        release.deleted_by = owner
        release.delete_reason = reason
        await self._rows.save(release)
        await self._changes.skills(owner)
        return SkillDeleted.model_validate(release.model_dump())

    async def release_health(self, owner: str, release_id: str) -> SkillReleaseHealth:
        """The release's health over its window (skill_health.py says how)."""
        await self._history.flush()
        release = await self._release(owner, release_id)
        now = utcnow()
        window_end = release.health_window_end_at or release.promoted_at + HEALTH_WINDOW
        observed = skill_health.figures(
            await self._rows.tagged_runs(
                owner, f"release:{release.id}", release.promoted_at, min(now, window_end)
            )
        )
        baseline = await self._baseline(owner, release)
        verdict = skill_health.verdict(observed, baseline)
        return SkillReleaseHealth(
            release_id=release.id,
            skill_key=release.skill_key,
            stage=release.stage,
            window_start_at=release.promoted_at,
            window_end_at=window_end,
            window_complete=now >= window_end,
            samples=observed.samples,
            success_rate=observed.success_rate,
            error_rate=observed.error_rate,
            p95_duration=observed.p95_duration,
            baseline_success_rate=baseline.success_rate,
            baseline_error_rate=baseline.error_rate,
            baseline_samples=baseline.samples,
            success_drop=verdict.success_drop,
            error_rate_multiplier=verdict.error_rate_multiplier,
            healthy=verdict.healthy,
            should_rollback=verdict.should_rollback,
            rollback_reasons=verdict.rollback_reasons,
            thresholds={
                "success_drop": skill_health.SUCCESS_DROP_THRESHOLD,
                "error_rate_multiplier": skill_health.ERROR_RATE_MULTIPLIER_THRESHOLD,
            },
        )

    async def _baseline(self, owner: str, release: SkillRelease) -> skill_health.RunFigures:
        # Upstream compares with the release before, deleted or not.
        previous = await self._rows.previous_release(
            owner, release.skill_key, release.version, with_deleted=True
        )
        if previous is None:
            return skill_health.PERFECT
        runs = await self._rows.tagged_runs(
            owner, f"release:{previous.id}", previous.promoted_at, release.promoted_at
        )
        if runs:
            return skill_health.figures(runs)
        evaluation = await self._rows.latest_evaluation(owner, previous.candidate_id)
        return skill_health.figures_of_report(evaluation.report if evaluation else None)

    # -- released skills, as MCP offers them -------------------------------------------

    async def active_releases(self, owner: str) -> list[SkillReleaseView]:
        return [release_view(row) for row in await self._rows.active_releases(owner)]

    async def skill_document(self, owner: str, skill_key: str) -> SkillDocument:
        """The SKILL.md of the skill's active release. NotFound without one."""
        return skill_document(*await self.released_skill(owner, skill_key))

    async def skill_documents(self, owner: str) -> list[SkillDocument]:
        """The SKILL.md of each of the owner's released skills, by skill key."""
        found = []
        for release in await self.active_releases(owner):
            try:
                found.append(await self.skill_document(owner, release.skill_key))
            except NotFound:  # deleted or released meanwhile: not offered
                continue
        return found

    async def released_skill(
        self, owner: str, skill_key: str
    ) -> tuple[SkillReleaseView, SkillCandidateView, list[Execution]]:
        """The skill's active release, its candidate and the candidate's runs still in
        the history. NotFound when the skill has no active release."""
        _, rows = await self._rows.releases(
            ReleaseFilter(owner=owner, skill_key=skill_key, active_only=True), 1, 0
        )
        if not rows:
            raise NotFound(f"skill {skill_key} has no active release")
        release = rows[0]
        candidate = await self._rows.candidate(owner, release.candidate_id)
        if candidate is None:
            raise NotFound(f"skill {skill_key}'s release names a deleted candidate")
        runs = await self._rows.executions(owner, candidate.source_execution_ids)
        order = {run_id: i for i, run_id in enumerate(candidate.source_execution_ids)}
        ordered = sorted(runs, key=lambda run: order[run.id])
        return release_view(release), candidate_view(candidate), ordered
