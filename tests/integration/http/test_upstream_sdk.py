"""Upstream Shipyard Neo's own Python SDK (`shipyard-neo-sdk`, pinned in the test
extras) against Bay: its skill calls parse our answers and map our errors, so code
written for upstream's `/v1/skills` works here unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shipyard_neo import BayClient
from shipyard_neo.errors import ConflictError, NotFoundError, ValidationError
from shipyard_neo.types import SkillCandidateStatus, SkillReleaseStage

from tests.integration.http.conftest import HttpBay, running_server


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice", "bob"), BAY_ALLOW_ANONYMOUS="false") as bay:
        yield bay


async def test_upstreams_sdk_runs_the_skill_lifecycle_against_bay(server: HttpBay) -> None:
    with server.client("alice") as alice:
        sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
        try:
            ran = alice.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "print(2+2)"})
            run = ran.json()["execution_id"]
            async with BayClient(endpoint_url=server.url, access_token=server.keys["alice"]) as sdk:
                skills = sdk.skills
                payload = await skills.create_payload(payload={"x": 2}, kind="args")
                assert (await skills.get_payload(payload.payload_ref)).payload == {"x": 2}
                made = await skills.create_candidate(
                    skill_key="four", source_execution_ids=[run], payload_ref=payload.payload_ref
                )
                assert made.status is SkillCandidateStatus.DRAFT
                with pytest.raises(ConflictError):
                    await skills.promote_candidate(made.id)
                evaluation = await skills.evaluate_candidate(made.id, passed=True, score=0.9)
                assert (evaluation.passed, evaluation.score) == (True, 0.9)
                first = await skills.promote_candidate(made.id, stage=SkillReleaseStage.CANARY)
                second = await skills.promote_candidate(made.id, stage="stable")
                assert (first.version, second.version) == (1, 2)
                listed = await skills.list_candidates(status=SkillCandidateStatus.PROMOTED)
                assert [c.id for c in listed.items] == [made.id]
                assert (await skills.get_candidate(made.id)).latest_pass is True
                releases = await skills.list_releases(skill_key="four", active_only=True)
                assert [r.id for r in releases.items] == [second.id]
                health = await skills.get_release_health(second.id)
                assert health.thresholds == {"success_drop": 0.03, "error_rate_multiplier": 2.0}
                back = await skills.rollback_release(second.id)
                assert (back.version, back.rollback_of) == (3, second.id)
                for release in (back, second, first):
                    await skills.delete_release(release.id, reason="test over")
                await skills.delete_candidate(made.id)
                with pytest.raises(NotFoundError):
                    await skills.get_candidate(made.id)
                with pytest.raises(ValidationError):
                    await skills.create_candidate(skill_key="x", source_execution_ids=["exec-0"])
            async with BayClient(endpoint_url=server.url, access_token=server.keys["bob"]) as sdk:
                with pytest.raises(NotFoundError):
                    await sdk.skills.get_payload(payload.payload_ref)
                assert (await sdk.skills.list_releases()).total == 0
        finally:
            alice.delete(f"/v1/sandboxes/{sandbox}")
