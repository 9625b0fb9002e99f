"""The process routes in-process over FakeShip: status codes, shapes, the contract's
errors, and output followed as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json

import httpx

from bay_mcp.bay import Bay
from bay_mcp.managers import no_progress
from tests.fakes import FakeShip


async def new_process(api: httpx.AsyncClient, **body: object) -> tuple[str, str]:
    sandbox = (await api.post("/v1/sandboxes", json={})).json()["id"]
    started = await api.post(f"/v1/sandboxes/{sandbox}/processes", json={"command": "ls", **body})
    assert started.status_code == 201, started.text
    return sandbox, started.json()["id"]


def events(body: str) -> list[tuple[str, dict[str, object]]]:
    found = []
    for block in body.strip().split("\n\n"):
        name, data = block.split("\n")
        found.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return found


async def test_every_route_answers_its_documented_status(api: httpx.AsyncClient) -> None:
    sandbox, process = await new_process(api, name="repl", pty=True)
    base = f"/v1/sandboxes/{sandbox}/processes"
    one = f"{base}/{process}"
    listed = await api.get(base)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["processes"]] == [process]
    got = await api.get(one)
    assert (got.status_code, got.json()["name"], got.json()["state"]) == (200, "repl", "running")
    read = await api.get(f"{one}/output", params={"since": "0", "wait": "0"})
    assert read.status_code == 200
    assert read.json()["text"] == "$ ls\n"
    typed = await api.post(f"{one}/input", json={"text": "1+1", "keys": ["Enter"]})
    assert (typed.status_code, typed.json()["written"]) == (200, 4)
    screen = await api.get(f"{one}/screen")
    assert screen.status_code == 200
    assert "1+1" in screen.json()["rendered"]
    resized = await api.post(f"{one}/resize", json={"rows": 30, "cols": 90})
    assert (resized.status_code, resized.json()["rows"]) == (200, 30)
    waited = await api.post(f"{one}/wait", json={"timeout": 1})
    assert (waited.status_code, waited.json()["state"]) == (200, "running")
    signalled = await api.post(f"{one}/signal", json={"signal": "SIGINT"})
    assert (signalled.status_code, signalled.json()["sent"]) == (200, True)
    killed = await api.delete(one)
    assert (killed.status_code, killed.json()["state"]) == (200, "killed")
    document = (await api.get("/openapi.json")).json()
    assert set(document["paths"]["/v1/sandboxes/{sandbox_id}/processes"]) == {"get", "post"}
    assert set(document["paths"]["/v1/sandboxes/{sandbox_id}/processes/{process_id}"]) == {
        "get", "delete"
    }  # fmt: skip


async def test_a_kill_is_sigterm_first(api: httpx.AsyncClient) -> None:
    sandbox, process = await new_process(api)
    killed = await api.delete(f"/v1/sandboxes/{sandbox}/processes/{process}")
    assert (killed.json()["state"], killed.json()["signal"]) == ("killed", "SIGTERM")


async def test_errors_carry_the_contracts_codes(api: httpx.AsyncClient, ship: FakeShip) -> None:
    sandbox, process = await new_process(api)
    base = f"/v1/sandboxes/{sandbox}/processes"
    missing = await api.get(f"{base}/proc-gone/output")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "not_found"
    assert "proc-gone" in error["message"]
    assert error["details"]["process_id"] == "proc-gone"
    bad_signal = await api.post(f"{base}/{process}/signal", json={"signal": "SIGNOPE"})
    assert (bad_signal.status_code, bad_signal.json()["error"]["code"]) == (400, "validation_error")
    nothing = await api.post(f"{base}/{process}/input", json={})
    assert nothing.status_code == 400
    assert "nothing to send" in nothing.json()["error"]["message"]
    outside = await api.post(base, json={"command": "ls", "cwd": "../etc"})
    assert (outside.status_code, outside.json()["error"]["code"]) == (400, "invalid_path")
    no_screen = await api.get(f"{base}/{process}/screen")
    assert no_screen.status_code == 400
    ship.max_processes = 1
    over = await api.post(base, json={"command": "sleep 1"})
    assert (over.status_code, over.json()["error"]["code"]) == (429, "quota_exceeded")
    assert "max_processes" in over.json()["error"]["message"]
    theirs = await api.get("/v1/sandboxes/sandbox-nope/processes")
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "not_found")


async def test_output_is_followed_as_events(
    api: httpx.AsyncClient, bay: Bay, ship: FakeShip
) -> None:
    sandbox, process = await new_process(api)
    owner = bay.settings.local_owner
    async with bay.sandboxes.runtime(owner, sandbox, "shell", no_progress) as endpoint:
        pass

    async def run() -> None:
        for line in ("1\n", "2\n"):
            await asyncio.sleep(0.05)
            ship.print(endpoint, process, line)
        ship.finish(endpoint, process, exit_code=0)

    task = asyncio.create_task(run())
    followed = await api.get(
        f"/v1/sandboxes/{sandbox}/processes/{process}/output",
        params={"wait": "10"},
        headers={"Accept": "text/event-stream"},
    )
    await task
    assert followed.headers["content-type"].startswith("text/event-stream")
    *outputs, (name, result) = events(followed.text)
    assert "".join(str(data["text"]) for _, data in outputs) == "$ ls\n1\n2\n"
    assert name == "result"
    assert result["text"] == ""  # it went out as events
    assert result["next_offset"] == len("$ ls\n1\n2\n")
    assert result["process"] == {**result["process"], "state": "exited", "exit_code": 0}  # type: ignore[dict-item]
    gone = await api.get(
        f"/v1/sandboxes/{sandbox}/processes/proc-gone/output",
        headers={"Accept": "text/event-stream"},
    )
    assert gone.status_code == 404  # refused before any stream opens
