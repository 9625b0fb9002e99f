"""Handlers of `/v1/skills`: payloads, candidates, evaluations, releases."""

from __future__ import annotations

from rest import skill_models as models
from rest.endpoint import Call, Result, dump


async def create_skill_payload(call: Call) -> Result:
    body: models.CreateSkillPayloadBody = call.body
    return 201, dump(await call.bay.skills.create_payload(call.owner, body.payload, body.kind))


async def get_skill_payload(call: Call) -> Result:
    return 200, dump(await call.bay.skills.get_payload(call.owner, call.params["payload_ref"]))


async def create_skill_candidate(call: Call) -> Result:
    body: models.CreateSkillCandidateBody = call.body
    candidate = await call.bay.skills.create_candidate(
        call.owner,
        body.skill_key,
        body.source_execution_ids,
        scenario_key=body.scenario_key,
        payload_ref=body.payload_ref,
        summary=body.summary,
        usage_notes=body.usage_notes,
        preconditions=body.preconditions,
        postconditions=body.postconditions,
    )
    return 201, dump(candidate)


async def list_skill_candidates(call: Call) -> Result:
    query: models.SkillCandidateQuery = call.query
    page = await call.bay.skills.list_candidates(
        call.owner,
        status=query.status,
        skill_key=query.skill_key,
        limit=query.limit,
        offset=query.offset,
    )
    return 200, dump(page)


async def get_skill_candidate(call: Call) -> Result:
    candidate_id = call.params["candidate_id"]
    return 200, dump(await call.bay.skills.get_candidate(call.owner, candidate_id))


async def evaluate_skill_candidate(call: Call) -> Result:
    body: models.EvaluateSkillBody = call.body
    evaluation = await call.bay.skills.evaluate_candidate(
        call.owner,
        call.params["candidate_id"],
        passed=body.passed,
        score=body.score,
        benchmark_id=body.benchmark_id,
        report=body.report,
    )
    return 200, dump(evaluation)


async def promote_skill_candidate(call: Call) -> Result:
    body: models.PromoteSkillBody = call.body
    release = await call.bay.skills.promote_candidate(
        call.owner,
        call.params["candidate_id"],
        stage=body.stage,
        upgrade_of_release_id=body.upgrade_of_release_id,
        upgrade_reason=body.upgrade_reason,
        change_summary=body.change_summary,
    )
    return 200, dump(release)


async def delete_skill_candidate(call: Call) -> Result:
    body: models.DeleteSkillBody = call.body
    deleted = await call.bay.skills.delete_candidate(
        call.owner, call.params["candidate_id"], body.reason
    )
    return 200, dump(deleted)


async def list_skill_releases(call: Call) -> Result:
    query: models.SkillReleaseQuery = call.query
    page = await call.bay.skills.list_releases(
        call.owner,
        skill_key=query.skill_key,
        active_only=query.active_only,
        stage=query.stage,
        limit=query.limit,
        offset=query.offset,
    )
    return 200, dump(page)


async def skill_release_health(call: Call) -> Result:
    release_id = call.params["release_id"]
    return 200, dump(await call.bay.skills.release_health(call.owner, release_id))


async def rollback_skill_release(call: Call) -> Result:
    release_id = call.params["release_id"]
    return 200, dump(await call.bay.skills.rollback_release(call.owner, release_id))


async def delete_skill_release(call: Call) -> Result:
    body: models.DeleteSkillBody = call.body
    deleted = await call.bay.skills.delete_release(
        call.owner, call.params["release_id"], body.reason
    )
    return 200, dump(deleted)
