"""The skill lifecycle against a real server and real sandboxes, over REST and MCP over
HTTP: real runs become a candidate; a failing evaluation refuses promotion, a passing
one allows it; canary, then stable, then a rollback; filters and paging; another owner
sees nothing; the released skill appears as a resource and a prompt."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from mcp_types import TextResourceContents

from bay_mcp.mcp.prompts import PROMPTS
from tests.integration.http.conftest import HttpBay, error_of, mcp_http, running_server, text_of


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice", "bob"), BAY_ALLOW_ANONYMOUS="false") as bay:
        yield bay


@pytest.fixture(scope="module")
def alice(server: HttpBay) -> Iterator[httpx.Client]:
    with server.client("alice") as client:
        yield client


@pytest.fixture(scope="module")
def bob(server: HttpBay) -> Iterator[httpx.Client]:
    with server.client("bob") as client:
        yield client


def python(client: httpx.Client, sandbox_id: str, code: str) -> str:
    ran = client.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": code})
    assert ran.status_code == 200, ran.text
    execution_id: str = ran.json()["execution_id"]
    return execution_id


def candidate(client: httpx.Client, skill_key: str, runs: list[str], **extra: object) -> str:
    made = client.post(
        "/v1/skills/candidates",
        json={"skill_key": skill_key, "source_execution_ids": runs, **extra},
    )
    assert made.status_code == 201, made.text
    candidate_id: str = made.json()["id"]
    return candidate_id


def promote(client: httpx.Client, candidate_id: str, stage: str) -> dict[str, object]:
    one = f"/v1/skills/candidates/{candidate_id}"
    passed = client.post(f"{one}/evaluate", json={"passed": True, "score": 1.0})
    assert passed.status_code == 200, passed.text
    released = client.post(f"{one}/promote", json={"stage": stage})
    assert released.status_code == 200, released.text
    release: dict[str, object] = released.json()
    return release


async def test_runs_become_released_skills_over_rest_and_mcp(
    server: HttpBay, alice: httpx.Client, bob: httpx.Client
) -> None:
    sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
    try:
        setup = python(alice, sandbox, "import statistics\ndata = [3, 1, 2]")
        answer = python(alice, sandbox, "print(statistics.median(data))")
        payload = alice.post("/v1/skills/payloads", json={"payload": {"data": [3, 1, 2]}})
        assert payload.status_code == 201
        ref = payload.json()["payload_ref"]
        first = candidate(alice, "median", [setup, answer], summary="Median of a list",
                          usage_notes="Put the numbers in data", payload_ref=ref)  # fmt: skip
        one = f"/v1/skills/candidates/{first}"

        failed = alice.post(f"{one}/evaluate", json={"passed": False, "report": "wrong"})
        assert (failed.status_code, failed.json()["passed"]) == (200, False)
        refused = error_of(alice.post(f"{one}/promote", json={"stage": "canary"}), 409, "conflict")
        assert "evaluate it first" in str(refused["message"])

        canary = promote(alice, first, "canary")
        assert (canary["version"], canary["stage"], canary["is_active"]) == (1, "canary", True)
        second = candidate(alice, "median", [answer], summary="Median, printed")
        stable = promote(alice, second, "stable")
        assert (stable["version"], stable["stage"]) == (2, "stable")
        rollback = alice.post(f"/v1/skills/releases/{stable['id']}/rollback")
        assert rollback.status_code == 200, rollback.text
        back = rollback.json()
        assert (back["version"], back["rollback_of"], back["candidate_id"]) == (
            3, stable["id"], first
        )  # fmt: skip
        assert back["stage"] == "canary"  # the stage of the release it reinstates

        # Filters and paging.
        releases = alice.get("/v1/skills/releases", params={"skill_key": "median"}).json()
        assert (releases["total"], [r["version"] for r in releases["items"]]) == (3, [3, 2, 1])
        paged = alice.get("/v1/skills/releases", params={"limit": 1, "offset": 1}).json()
        assert [r["version"] for r in paged["items"]] == [2]
        active = alice.get("/v1/skills/releases", params={"active_only": "true"}).json()
        assert [r["id"] for r in active["items"]] == [back["id"]]
        assert alice.get("/v1/skills/releases", params={"stage": "stable"}).json()["total"] == 1
        rolled = alice.get("/v1/skills/candidates", params={"status": "rolled_back"}).json()
        assert [c["id"] for c in rolled["items"]] == [second]
        health = alice.get(f"/v1/skills/releases/{back['id']}/health").json()
        assert (health["samples"], health["should_rollback"]) == (0, False)

        # Another owner sees nothing and can touch nothing.
        assert bob.get("/v1/skills/candidates").json() == {"items": [], "total": 0}
        assert bob.get("/v1/skills/releases").json() == {"items": [], "total": 0}
        error_of(bob.get(one), 404, "not_found")
        error_of(bob.get(f"/v1/skills/payloads/{ref}"), 404, "not_found")
        error_of(bob.post(f"/v1/skills/releases/{back['id']}/rollback"), 404, "not_found")
        error_of(bob.delete(f"/v1/skills/releases/{back['id']}"), 404, "not_found")
        stolen = bob.post("/v1/skills/candidates",
                          json={"skill_key": "mine", "source_execution_ids": [answer]})  # fmt: skip
        assert answer in str(error_of(stolen, 400, "validation_error")["message"])

        # MCP: the same skills, the released one as a resource and a prompt.
        async with mcp_http(server, "alice") as client:
            listed = await client.call_tool("list_skill_releases", {"skill_key": "median"})
            assert not listed.is_error, text_of(listed)
            assert listed.structured_content is not None
            assert listed.structured_content["total"] == 3
            resources = [str(r.uri) for r in (await client.list_resources()).resources]
            assert "skill://median" in resources
            [document] = (await client.read_resource("skill://median")).contents
            assert isinstance(document, TextResourceContents)
            assert document.text.startswith('---\nname: "median"\n')
            assert "print(statistics.median(data))" in document.text  # the reinstated runs
            assert "import statistics" in document.text
            # The released skill is a prompt beside the workflow prompts.
            workflows = {function.__name__ for function, _, _ in PROMPTS}
            prompts = (await client.list_prompts()).prompts
            [prompt] = [p for p in prompts if p.name not in workflows]
            assert (prompt.name, prompt.description) == ("median", "Median of a list")
            refused_tool = await client.call_tool(
                "create_skill_candidate", {"skill_key": "x", "source_execution_ids": ["exec-0"]}
            )
            assert refused_tool.is_error
            assert "exec-0" in text_of(refused_tool)
        async with mcp_http(server, "bob") as client:
            # Bob has the workflow prompts and none of Alice's skills.
            bobs = {p.name for p in (await client.list_prompts()).prompts}
            assert bobs == {function.__name__ for function, _, _ in PROMPTS}
            assert not [
                r for r in (await client.list_resources()).resources
                if str(r.uri).startswith("skill://")
            ]  # fmt: skip
    finally:
        alice.delete(f"/v1/sandboxes/{sandbox}")


async def test_the_mcp_tools_run_the_whole_lifecycle(server: HttpBay, alice: httpx.Client) -> None:
    sandbox = alice.post("/v1/sandboxes", json={}).json()["id"]
    try:
        run = python(alice, sandbox, "print(sum(range(10)))")
        async with mcp_http(server, "alice") as client:

            async def tool(name: str, **arguments: object) -> dict[str, object]:
                result = await client.call_tool(name, arguments)
                assert not result.is_error, text_of(result)
                content: dict[str, object] | None = result.structured_content
                assert content is not None
                return content

            payload = await tool("create_skill_payload", payload=[1, 2], kind="args")
            got = await tool("get_skill_payload", payload_ref=payload["payload_ref"])
            assert got["payload"] == [1, 2]
            made = await tool("create_skill_candidate", skill_key="sum10",
                              source_execution_ids=[run], summary="Sum 0..9")  # fmt: skip
            early = await client.call_tool("promote_skill_candidate", {"candidate_id": made["id"]})
            assert early.is_error
            assert "evaluate it first" in text_of(early)
            await tool("evaluate_skill_candidate", candidate_id=made["id"], passed=True)
            release = await tool("promote_skill_candidate", candidate_id=made["id"])
            assert release["stage"] == "canary"
            listed = await tool("list_skill_candidates", skill_key="sum10")
            assert listed["total"] == 1
            no_rollback = await client.call_tool(
                "rollback_skill_release", {"release_id": release["id"]}
            )
            assert no_rollback.is_error
            deleted = await tool("delete_skill_release", release_id=release["id"])
            assert deleted["id"] == release["id"]
            await tool("delete_skill_candidate", candidate_id=made["id"])
            assert (await tool("list_skill_releases", skill_key="sum10"))["total"] == 0
    finally:
        alice.delete(f"/v1/sandboxes/{sandbox}")
