"""The skill lifecycle over Bay's fakes: runs become candidates, evaluations gate
promotion, releases are versioned, rolled back and measured, and each owner sees only
its own."""

from __future__ import annotations

import asyncio

import pytest

from bay_mcp.bay import Bay
from bay_mcp.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from bay_mcp.limits import MAX_SKILL_PAYLOAD_BYTES
from bay_mcp.managers import no_progress
from bay_mcp.services.runs import PythonRun
from ship import protocol
from tests.fakes import FakeShip


async def _run(bay: Bay, owner: str, code: str = "1+1", tags: str | None = None) -> str:
    sandbox = await bay.sandboxes.create(owner)
    result = await bay.execution.run(
        owner, sandbox.id, PythonRun(code=code, tags=tags), no_progress
    )
    return result.execution_id


async def _released(bay: Bay, owner: str, key: str, stage: str = "canary") -> str:
    run = await _run(bay, owner)
    candidate = await bay.skills.create_candidate(owner, key, [run])
    await bay.skills.evaluate_candidate(owner, candidate.id, passed=True)
    release = await bay.skills.promote_candidate(owner, candidate.id, stage=stage)
    return release.id


async def test_a_payload_is_kept_as_a_blob_ref_and_read_back_by_its_owner_only(bay: Bay) -> None:
    made = await bay.skills.create_payload("alice", {"steps": [1, 2]}, kind="trace")
    assert made.payload_ref.startswith("blob:")
    assert made.kind == "trace"
    read = await bay.skills.get_payload("alice", made.payload_ref)
    assert read.payload == {"steps": [1, 2]}
    with pytest.raises(NotFound):
        await bay.skills.get_payload("bob", made.payload_ref)
    with pytest.raises(ValidationFailed):
        await bay.skills.get_payload("alice", "file:/etc/passwd")
    with pytest.raises(PayloadTooLarge):
        await bay.skills.create_payload("alice", ["x" * MAX_SKILL_PAYLOAD_BYTES])


async def test_a_candidate_names_runs_of_its_owners_history_only(bay: Bay) -> None:
    mine = await _run(bay, "alice", "print('hi')")
    theirs = await _run(bay, "bob")
    payload = await bay.skills.create_payload("alice", {"a": 1})
    candidate = await bay.skills.create_candidate(
        "alice",
        "greet",
        [mine],
        summary="Say hi",
        preconditions={"python": ">=3.11"},
        payload_ref=payload.payload_ref,
    )
    assert (candidate.status, candidate.source_execution_ids) == ("draft", [mine])
    assert candidate.preconditions == {"python": ">=3.11"}
    with pytest.raises(ValidationFailed, match=theirs):
        await bay.skills.create_candidate("alice", "greet", [mine, theirs])
    with pytest.raises(ValidationFailed, match="exec-nope"):
        await bay.skills.create_candidate("alice", "greet", ["exec-nope"])
    with pytest.raises(ValidationFailed):
        await bay.skills.create_candidate("alice", "greet", [])
    with pytest.raises(ValidationFailed, match="skill_key"):
        await bay.skills.create_candidate("alice", "bad key/..", [mine])
    other = await bay.skills.create_payload("bob", {})
    with pytest.raises(NotFound):  # bob's payload ref is not alice's
        await bay.skills.create_candidate("alice", "greet", [mine], payload_ref=other.payload_ref)


async def test_promotion_waits_for_a_passing_evaluation(bay: Bay) -> None:
    run = await _run(bay, "alice")
    candidate = await bay.skills.create_candidate("alice", "sum", [run])
    with pytest.raises(Conflict, match="evaluate it first"):
        await bay.skills.promote_candidate("alice", candidate.id)
    failed = await bay.skills.evaluate_candidate(
        "alice", candidate.id, passed=False, score=0.2, report="wrong sum"
    )
    assert (failed.passed, failed.score, failed.report) == (False, 0.2, "wrong sum")
    assert (await bay.skills.get_candidate("alice", candidate.id)).status == "rejected"
    with pytest.raises(Conflict, match="failed"):
        await bay.skills.promote_candidate("alice", candidate.id)
    await bay.skills.evaluate_candidate("alice", candidate.id, passed=True, score=0.9)
    release = await bay.skills.promote_candidate("alice", candidate.id, stage="canary")
    assert (release.version, release.stage, release.is_active) == (1, "canary", True)
    promoted = await bay.skills.get_candidate("alice", candidate.id)
    assert (promoted.status, promoted.promotion_release_id) == ("promoted", release.id)
    with pytest.raises(ValidationFailed, match="stage"):
        await bay.skills.promote_candidate("alice", candidate.id, stage="beta")


async def test_each_promotion_is_the_next_version_and_the_only_active_one(bay: Bay) -> None:
    first = await _released(bay, "alice", "sum")
    second = await _released(bay, "alice", "sum", stage="stable")
    releases = await bay.skills.list_releases("alice", skill_key="sum")
    assert [(r.id, r.version, r.is_active) for r in releases.items] == [
        (second, 2, True),
        (first, 1, False),
    ]
    active = await bay.skills.list_releases("alice", active_only=True)
    assert [r.id for r in active.items] == [second]
    stable = await bay.skills.list_releases("alice", stage="stable")
    assert [r.id for r in stable.items] == [second]


async def test_a_rollback_is_a_new_release_of_the_previous_candidate(bay: Bay) -> None:
    first = await _released(bay, "alice", "sum")
    second = await _released(bay, "alice", "sum", stage="stable")
    with pytest.raises(Conflict, match="no earlier release"):
        await bay.skills.rollback_release("alice", first)
    rollback = await bay.skills.rollback_release("alice", second)
    old = await bay.skills.get_release("alice", first)
    assert (rollback.version, rollback.rollback_of, rollback.is_active) == (3, second, True)
    assert (rollback.candidate_id, rollback.stage) == (old.candidate_id, old.stage)
    replaced = await bay.skills.get_release("alice", second)
    assert not replaced.is_active
    assert (await bay.skills.get_candidate("alice", replaced.candidate_id)).status == "rolled_back"


async def test_deleting_a_release_deactivates_it_and_frees_its_candidate(bay: Bay) -> None:
    release = await bay.skills.get_release("alice", await _released(bay, "alice", "sum"))
    with pytest.raises(Conflict, match="active release"):
        await bay.skills.delete_candidate("alice", release.candidate_id)
    deleted = await bay.skills.delete_release("alice", release.id, reason="obsolete")
    assert (deleted.id, deleted.delete_reason) == (release.id, "obsolete")
    assert (await bay.skills.list_releases("alice")).total == 0
    with pytest.raises(NotFound):
        await bay.skills.get_release("alice", release.id)
    await bay.skills.delete_candidate("alice", release.candidate_id)
    assert (await bay.skills.list_candidates("alice")).total == 0
    with pytest.raises(NotFound):
        await bay.skills.delete_candidate("alice", release.candidate_id)


async def test_lists_filter_and_page_newest_first(bay: Bay) -> None:
    run = await _run(bay, "alice")
    made = [await bay.skills.create_candidate("alice", f"k{i % 2}", [run]) for i in range(5)]
    await bay.skills.evaluate_candidate("alice", made[0].id, passed=False)
    page = await bay.skills.list_candidates("alice", limit=2, offset=1)
    assert page.total == 5
    assert [c.id for c in page.items] == [made[3].id, made[2].id]
    k0 = await bay.skills.list_candidates("alice", skill_key="k0")
    assert [c.id for c in k0.items] == [made[4].id, made[2].id, made[0].id]
    rejected = await bay.skills.list_candidates("alice", status="rejected")
    assert [c.id for c in rejected.items] == [made[0].id]
    with pytest.raises(ValidationFailed, match="status"):
        await bay.skills.list_candidates("alice", status="nope")
    with pytest.raises(ValidationFailed, match="limit"):
        await bay.skills.list_candidates("alice", limit=0)


async def test_another_owner_sees_nothing(bay: Bay) -> None:
    release_id = await _released(bay, "alice", "sum")
    release = await bay.skills.get_release("alice", release_id)
    assert (await bay.skills.list_candidates("bob")).total == 0
    assert (await bay.skills.list_releases("bob")).total == 0
    assert await bay.skills.active_releases("bob") == []
    for attempt in (
        bay.skills.get_candidate("bob", release.candidate_id),
        bay.skills.evaluate_candidate("bob", release.candidate_id, passed=True),
        bay.skills.promote_candidate("bob", release.candidate_id),
        bay.skills.delete_candidate("bob", release.candidate_id),
        bay.skills.rollback_release("bob", release_id),
        bay.skills.release_health("bob", release_id),
        bay.skills.delete_release("bob", release_id),
        bay.skills.released_skill("bob", "sum"),
    ):
        with pytest.raises(NotFound):
            await attempt


async def test_health_measures_the_runs_tagged_with_the_release(bay: Bay, ship: FakeShip) -> None:
    first = await _released(bay, "alice", "sum")
    empty = await bay.skills.release_health("alice", first)
    assert (empty.samples, empty.healthy, empty.should_rollback) == (0, False, False)
    assert empty.thresholds == {"success_drop": 0.03, "error_rate_multiplier": 2.0}
    await _run(bay, "alice", tags=f"release:{first}")
    await _run(bay, "alice", tags=f"release:{first},other")
    ship.python_answer = protocol.PythonExecResult(
        success=False,
        output="",
        error=protocol.PythonError(ename="ValueError", evalue="", traceback=[]),
        execution_count=1,
        execution_time_ms=7,
    )
    await _run(bay, "alice", tags=f"release:{first}")
    await _run(bay, "alice", tags=f"release:{first}x")  # another tag
    health = await bay.skills.release_health("alice", first)
    assert health.samples == 3
    assert health.success_rate == pytest.approx(2 / 3)
    assert health.error_rate == pytest.approx(1 / 3)
    # No release before: a perfect baseline, so the drop and the errors call for rollback.
    assert (health.baseline_samples, health.baseline_success_rate) == (0, 1.0)
    assert health.rollback_reasons == ["success_rate_drop", "error_rate_regression"]
    assert (health.healthy, health.should_rollback) == (False, True)
    assert health.p95_duration == 7
    assert (health.window_end_at - health.window_start_at).total_seconds() == 24 * 3600


async def test_a_released_skill_brings_its_candidate_and_runs(bay: Bay) -> None:
    first, second = await _run(bay, "alice", "a = 1"), await _run(bay, "alice", "print(a)")
    candidate = await bay.skills.create_candidate("alice", "show", [second, first])
    await bay.skills.evaluate_candidate("alice", candidate.id, passed=True)
    await bay.skills.promote_candidate("alice", candidate.id)
    release, kept, runs = await bay.skills.released_skill("alice", "show")
    assert (release.skill_key, kept.id) == ("show", candidate.id)
    assert [run.code for run in runs] == ["print(a)", "a = 1"]
    assert [r.skill_key for r in await bay.skills.active_releases("alice")] == ["show"]


async def test_releases_made_at_once_get_versions_of_their_own(bay: Bay) -> None:
    run = await _run(bay, "alice")
    made = [await bay.skills.create_candidate("alice", "sum", [run]) for _ in range(3)]
    for candidate in made:
        await bay.skills.evaluate_candidate("alice", candidate.id, passed=True)
    releases = await asyncio.gather(
        *(bay.skills.promote_candidate("alice", candidate.id) for candidate in made)
    )
    assert sorted(release.version for release in releases) == [1, 2, 3]
    active = await bay.skills.list_releases("alice", active_only=True)
    assert active.total == 1
