"""`/v1/skills` in-process over the fakes: upstream's paths, status codes and shapes,
the contract's errors, and one owner's skills hidden from another."""

from __future__ import annotations

import httpx

from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from bay_mcp.services.runs import PythonRun


async def _run_id(api: httpx.AsyncClient) -> str:
    sandbox = (await api.post("/v1/sandboxes", json={})).json()["id"]
    ran = await api.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "1+1"})
    assert ran.status_code == 200, ran.text
    execution_id: str = ran.json()["execution_id"]
    return execution_id


async def test_the_lifecycle_answers_upstreams_statuses_and_shapes(api: httpx.AsyncClient) -> None:
    made = await api.post("/v1/skills/payloads", json={"payload": {"a": 1}, "kind": "steps"})
    assert made.status_code == 201
    ref = made.json()["payload_ref"]
    got = await api.get(f"/v1/skills/payloads/{ref}")
    assert (got.status_code, got.json()) == (200, {"payload_ref": ref, "kind": "steps",
                                                   "payload": {"a": 1}})  # fmt: skip
    run = await _run_id(api)
    created = await api.post(
        "/v1/skills/candidates",
        json={"skill_key": "add", "source_execution_ids": [run], "payload_ref": ref,
              "preconditions": {"x": 1}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    candidate = created.json()
    assert (candidate["status"], candidate["skill_type"]) == ("draft", "code")
    one = f"/v1/skills/candidates/{candidate['id']}"
    early = await api.post(f"{one}/promote", json={})
    assert (early.status_code, early.json()["error"]["code"]) == (409, "conflict")
    assert "evaluate it first" in early.json()["error"]["message"]
    evaluated = await api.post(f"{one}/evaluate", json={"passed": True, "score": 1.0})
    assert (evaluated.status_code, evaluated.json()["passed"]) == (200, True)
    promoted = await api.post(f"{one}/promote", json={"stage": "canary"})
    assert (promoted.status_code, promoted.json()["version"]) == (200, 1)
    release = promoted.json()["id"]
    listed = await api.get("/v1/skills/releases", params={"skill_key": "add", "stage": ""})
    assert [r["id"] for r in listed.json()["items"]] == [release]
    health = await api.get(f"/v1/skills/releases/{release}/health")
    assert (health.status_code, health.json()["samples"]) == (200, 0)
    no_rollback = await api.post(f"/v1/skills/releases/{release}/rollback")
    assert no_rollback.status_code == 409
    busy = await api.delete(one)
    assert busy.status_code == 409
    deleted = await api.request("DELETE", f"/v1/skills/releases/{release}", json={"reason": "done"})
    assert (deleted.status_code, deleted.json()["delete_reason"]) == (200, "done")
    assert (await api.delete(one)).status_code == 200
    candidates = await api.get("/v1/skills/candidates", params={"status": "", "skill_key": ""})
    assert candidates.json() == {"items": [], "total": 0}


async def test_errors_are_the_contracts(api: httpx.AsyncClient, bay: Bay) -> None:
    missing = await api.post(
        "/v1/skills/candidates", json={"skill_key": "k", "source_execution_ids": ["exec-x"]}
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "validation_error")
    assert "exec-x" in missing.json()["error"]["message"]
    bad_stage = await api.get("/v1/skills/releases", params={"stage": "beta"})
    assert bad_stage.status_code == 400
    assert (await api.get("/v1/skills/candidates/sc-nope")).status_code == 404
    # Another owner's run is as good as none.
    sandbox = await bay.sandboxes.create("bob")
    theirs = await bay.execution.run("bob", sandbox.id, PythonRun(code="1"), no_progress)
    foreign = await api.post(
        "/v1/skills/candidates",
        json={"skill_key": "k", "source_execution_ids": [theirs.execution_id]},
    )
    assert foreign.status_code == 400


async def test_the_openapi_document_has_the_skill_paths(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert set(paths["/v1/skills/candidates/{candidate_id}"]) == {"get", "delete"}
    assert "/v1/skills/releases/{release_id}/health" in paths
    assert "/v1/skills/payloads/{payload_ref}" in paths
