"""The browser's REST routes in-process over the fakes: `learn`/`include_trace` give a
trace_ref the traces route reads, and a released browser skill replays through
`browser/skills/{key}/run` with the contract's errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bay_mcp.settings import BaySettings
from tests.fake_browser import BrowsingShip, browser_settings
from tests.fakes import FakeDriver, FakeShip

COMMANDS = ["open http://site/", "click #go", "get text #out"]


@pytest.fixture
def settings(tmp_path: Path) -> BaySettings:
    return browser_settings(tmp_path)


@pytest.fixture
def ship(driver: FakeDriver) -> FakeShip:
    return BrowsingShip(driver)


async def _sandbox(api: httpx.AsyncClient) -> str:
    sandbox_id: str = (await api.post("/v1/sandboxes", json={})).json()["id"]
    return sandbox_id


async def test_a_batch_with_learn_answers_a_trace_ref_the_traces_route_reads(
    api: httpx.AsyncClient,
) -> None:
    sandbox = await _sandbox(api)
    plain = await api.post(f"/v1/sandboxes/{sandbox}/browser/exec", json={"cmd": "get title"})
    assert plain.json()["trace_ref"] is None
    ran = await api.post(
        f"/v1/sandboxes/{sandbox}/browser/exec_batch", json={"commands": COMMANDS, "learn": True}
    )
    assert ran.status_code == 200, ran.text
    ref = ran.json()["trace_ref"]
    read = await api.get(f"/v1/sandboxes/{sandbox}/browser/traces/{ref}")
    assert read.status_code == 200, read.text
    assert read.json()["trace_ref"] == ref
    assert read.json()["commands"] == COMMANDS
    missing = await api.get(f"/v1/sandboxes/{sandbox}/browser/traces/trace:nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


async def test_the_run_route_replays_a_release_or_says_why_not(api: httpx.AsyncClient) -> None:
    sandbox = await _sandbox(api)
    route = f"/v1/sandboxes/{sandbox}/browser/skills/greet/run"
    none = await api.post(route)
    assert none.status_code == 404
    assert "No active release found" in none.json()["error"]["message"]

    ran = await api.post(f"/v1/sandboxes/{sandbox}/browser/exec_batch", json={"commands": COMMANDS})
    stored = await api.post("/v1/skills/payloads", json={"payload": {"commands": COMMANDS}})
    made = await api.post(
        "/v1/skills/candidates",
        json={
            "skill_key": "greet",
            "source_execution_ids": [ran.json()["execution_id"]],
            "payload_ref": stored.json()["payload_ref"],
        },
    )
    one = f"/v1/skills/candidates/{made.json()['id']}"
    await api.post(f"{one}/evaluate", json={"passed": True})
    await api.post(f"{one}/promote", json={"stage": "stable"})
    replayed = await api.post(route, json={"timeout": 20})
    assert replayed.status_code == 200, replayed.text
    answer = replayed.json()
    assert answer["success"]
    assert (answer["total_steps"], answer["completed_steps"]) == (3, 3)
    assert [step["kind"] for step in answer["results"]] == ["navigate", "click", "get"]
