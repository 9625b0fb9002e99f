"""Live output over REST (Server-Sent Events) and MCP streamable HTTP (progress), from
real containers; a client that goes away mid-stream interrupts the run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.http.conftest import HttpBay, mcp_http, running_server

PROFILES = json.dumps([{"id": "python-default", "warm_pool_size": 0}])
COUNTING = "import time\nfor i in range(5):\n    print(i, flush=True)\n    time.sleep(1)"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    with running_server(("alice",), BAY_PROFILES=PROFILES, BAY_GC_ENABLED="false") as bay:
        yield bay


@pytest.fixture(scope="module")
def alice(server: HttpBay) -> Iterator[tuple[httpx.Client, str]]:
    with server.client("alice") as client:
        sandbox_id = client.post("/v1/sandboxes", json={}).json()["id"]
        yield client, sandbox_id
        client.delete(f"/v1/sandboxes/{sandbox_id}")


def events_of(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    name = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            assert name is not None
            yield name, json.loads(line.removeprefix("data: "))
            name = None


def test_a_stream_yields_output_chunks_then_the_result(alice: tuple[httpx.Client, str]) -> None:
    client, sandbox_id = alice
    headers = {"Accept": "text/event-stream"}
    for kind, body, lines in (
        ("python", {"code": COUNTING}, ["0", "1", "2", "3", "4"]),
        ("shell", {"command": "for i in a b c; do echo $i; sleep 1; done; exit 2"},
         ["a", "b", "c"]),
    ):  # fmt: skip
        with client.stream(
            "POST", f"/v1/sandboxes/{sandbox_id}/{kind}/exec", json=body, headers=headers
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = list(events_of(response))
        *outputs, (last, result) = events
        assert {name for name, _ in outputs} == {"output"}
        # One event per line printed a second apart: the output came as it was made.
        assert len(outputs) >= len(lines) - 1, outputs
        assert "".join(data["text"] for _, data in outputs).split() == lines
        assert last == "result"
        assert result["output"].split() == lines
        assert result["execution_id"].startswith("exec")
    assert result["exit_code"] == 2


def test_an_error_ends_the_stream_as_an_error_event(alice: tuple[httpx.Client, str]) -> None:
    client, sandbox_id = alice
    body = {"code": "print('before'); import time; time.sleep(30)", "timeout": 2}
    with client.stream(
        "POST",
        f"/v1/sandboxes/{sandbox_id}/python/exec",
        json=body,
        headers={"Accept": "text/event-stream"},
    ) as response:
        events = list(events_of(response))
    assert events[0] == ("output", {"text": "before\n"})
    name, error = events[-1]
    assert name == "error"
    assert error["error"]["code"] == "timeout"


def test_going_away_mid_stream_interrupts_the_run(alice: tuple[httpx.Client, str]) -> None:
    client, sandbox_id = alice
    code = (
        "import time\nprint('started', flush=True)\ntry:\n    time.sleep(60)\n"
        "except KeyboardInterrupt:\n    open('interrupted.txt', 'w').write('yes')\n    raise"
    )
    with client.stream(
        "POST",
        f"/v1/sandboxes/{sandbox_id}/python/exec",
        json={"code": code, "timeout": 120},
        headers={"Accept": "text/event-stream"},
    ) as response:
        first = next(events_of(response))
        assert first == ("output", {"text": "started\n"})
    # The stream is closed: Bay cancels the run, which interrupts the kernel.
    deadline = time.monotonic() + 30
    files = f"/v1/sandboxes/{sandbox_id}/filesystem/files"
    while client.get(files, params={"path": "interrupted.txt"}).status_code != 200:
        assert time.monotonic() < deadline, "the run was not interrupted"
        time.sleep(0.2)
    after = client.post(f"/v1/sandboxes/{sandbox_id}/python/exec", json={"code": "print(1)"})
    assert after.json()["output"] == "1\n"


async def test_mcp_over_http_reports_output_as_progress(
    server: HttpBay, alice: tuple[httpx.Client, str]
) -> None:
    _, sandbox_id = alice
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with mcp_http(server, "alice") as client:
        result = await client.call_tool(
            "python_exec",
            {"sandbox_id": sandbox_id, "code": COUNTING},
            progress_callback=on_progress,
        )
    assert not result.is_error
    assert "".join(messages).split() == ["0", "1", "2", "3", "4"], messages
