"""Idle sandboxes paused with their memory kept, and runtimes that stop answering:
a real Bay over HTTP, real containers, the engine's real pause."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bay_mcp.adapters.ship_client import EXEC_GRACE_S
from tests.integration.conftest import docker
from tests.integration.http.conftest import HttpBay, error_of, mcp_http, running_server

PAUSE_AFTER_S = 2


@pytest.fixture(scope="module")
def server() -> Iterator[HttpBay]:
    profiles = [
        {"id": "python-default", "warm_pool_size": 0, "pause_after_idle_seconds": PAUSE_AFTER_S},
        {"id": "no-pause", "warm_pool_size": 0, "pause_after_idle_seconds": None},
    ]
    env = {"BAY_PROFILES": json.dumps(profiles), "BAY_PAUSE_CHECK_INTERVAL_SECONDS": "0.5"}
    with running_server(("alice",), BAY_ALLOW_ANONYMOUS="false", **env) as made:
        yield made


@pytest.fixture(scope="module")
def alice(server: HttpBay) -> Iterator[httpx.Client]:
    with server.client("alice") as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def python(client: httpx.Client, sandbox: str, code: str, timeout: int = 30) -> Any:
    return ok(
        client.post(f"/v1/sandboxes/{sandbox}/python/exec", json={"code": code, "timeout": timeout})
    )


def container_of(server: HttpBay, sandbox: str) -> str:
    [container] = server.containers(sandbox_id=sandbox)
    return docker("inspect", "-f", "{{.Id}}", container)


def paused(container: str) -> bool:
    return docker("inspect", "-f", "{{.State.Paused}}", container) == "true"


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.1)


def cpu_used_ns(container: str) -> int:
    """The container's CPU time so far (cgroup v1's cpuacct, or v2's cpu.stat)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text())
    for v2 in (
        Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat"),
        Path(f"/sys/fs/cgroup/docker/{container}/cpu.stat"),
    ):
        if v2.exists():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            return int(usage["usage_usec"]) * 1000
    raise AssertionError(f"no CPU accounting found for container {container[:12]}")


def test_an_idle_sandbox_is_paused_with_its_memory_and_its_next_call_thaws_it(
    server: HttpBay, alice: httpx.Client
) -> None:
    sandbox = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
    python(alice, sandbox, "x = [1] * 10**6")
    container = container_of(server, sandbox)
    wait_until(lambda: paused(container), "the pause")
    assert ok(alice.get(f"/v1/sandboxes/{sandbox}"))["status"] == "paused"
    before = cpu_used_ns(container)
    time.sleep(1.0)  # measuring that nothing runs takes a while of nothing running
    assert cpu_used_ns(container) == before  # frozen: not a nanosecond of CPU
    result = python(alice, sandbox, "sum(x)")
    assert result["output"].strip() == "1000000"
    assert result["notice"] is None
    assert not paused(container)
    assert ok(alice.get(f"/v1/sandboxes/{sandbox}"))["status"] == "ready"
    assert container_of(server, sandbox) == container  # the same container


def test_a_process_keeps_its_output_offset_across_a_pause(
    server: HttpBay, alice: httpx.Client
) -> None:
    sandbox = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
    base = f"/v1/sandboxes/{sandbox}/processes"
    started = ok(alice.post(base, json={"command": "echo first; sleep 3600"}), 201)
    read = ok(alice.get(f"{base}/{started['id']}/output", params={"since": 0, "wait": 5}))
    assert read["text"] == "first\n"
    container = container_of(server, sandbox)
    wait_until(lambda: paused(container), "the pause")
    again = ok(alice.get(f"{base}/{started['id']}/output", params={"since": read["next_offset"]}))
    assert again["text"] == ""
    assert again["process"]["state"] == "running"
    assert not paused(container)


def test_a_profile_without_pause_is_never_paused(server: HttpBay, alice: httpx.Client) -> None:
    sandbox = ok(alice.post("/v1/sandboxes", json={"profile": "no-pause"}), 201)["id"]
    python(alice, sandbox, "1")
    container = container_of(server, sandbox)
    deadline = time.monotonic() + PAUSE_AFTER_S + 3
    while time.monotonic() < deadline:  # past the pause time, with checks every 0.5 s
        assert not paused(container)
        time.sleep(0.2)
    assert ok(alice.get(f"/v1/sandboxes/{sandbox}"))["status"] == "ready"


def test_a_runtime_frozen_from_outside_is_bounded_marked_and_replaced(
    server: HttpBay, alice: httpx.Client
) -> None:
    sandbox = ok(alice.post("/v1/sandboxes", json={"profile": "no-pause"}), 201)["id"]
    python(alice, sandbox, "open('kept.txt', 'w').write('files stay'); y = 7")
    container = container_of(server, sandbox)
    docker("pause", container)  # not Bay's doing: the runtime simply stops answering
    started = time.monotonic()
    missed = alice.post(
        f"/v1/sandboxes/{sandbox}/python/exec", json={"code": "1 + 1", "timeout": 5}
    )
    elapsed = time.monotonic() - started
    error = error_of(missed, 504, "timeout")
    assert elapsed < 5 + EXEC_GRACE_S, elapsed
    assert "does not answer at all" in str(error["message"])
    assert ok(alice.get(f"/v1/sandboxes/{sandbox}"))["status"] == "unhealthy"
    result = python(alice, sandbox, "print(open('kept.txt').read()); print('y' in dir())")
    assert result["output"].split() == ["files", "stay", "False"]
    assert "its memory (variables, processes) is not" in result["notice"]
    assert ok(alice.get(f"/v1/sandboxes/{sandbox}"))["status"] == "ready"
    assert container_of(server, sandbox) != container


async def test_a_preview_request_wakes_a_paused_sandbox(
    server: HttpBay, alice: httpx.Client
) -> None:
    sandbox = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
    ran = ok(
        alice.post(
            f"/v1/sandboxes/{sandbox}/shell/exec",
            json={
                "command": "mkdir -p site && echo awake > site/index.html && "
                "(nohup python3 -m http.server 8000 --directory site >/dev/null 2>&1 &) "
                "&& sleep 1"
            },
        )
    )
    assert ran["exit_code"] == 0, ran
    async with mcp_http(server, "alice") as client:
        exposed = await client.call_tool("expose_port", {"sandbox_id": sandbox, "port": 8000})
        assert not exposed.is_error, exposed.content
    container = container_of(server, sandbox)
    wait_until(lambda: paused(container), "the pause")
    page = alice.get(f"/v1/sandboxes/{sandbox}/ports/8000/")
    assert page.status_code == 200, page.text
    assert page.text.strip() == "awake"
    assert not paused(container)


def test_paused_memory_over_the_limit_stops_the_longest_paused() -> None:
    profiles = [{"id": "python-default", "warm_pool_size": 0, "pause_after_idle_seconds": 1}]
    env = {
        "BAY_PROFILES": json.dumps(profiles),
        "BAY_PAUSE_CHECK_INTERVAL_SECONDS": "0.5",
        # One default sandbox's memory (1024 MB): a second paused one is one too many.
        "BAY_MAX_PAUSED_MEMORY_MB": "1024",
    }
    with (
        running_server(("alice",), BAY_ALLOW_ANONYMOUS="false", **env) as limited,
        limited.client("alice") as alice,
    ):
        first = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
        python(alice, first, "open('notes.txt', 'w').write('kept')")
        first_container = container_of(limited, first)
        wait_until(lambda: paused(first_container), "the first pause")
        second = ok(alice.post("/v1/sandboxes", json={}), 201)["id"]
        python(alice, second, "1")
        second_container = container_of(limited, second)
        wait_until(lambda: paused(second_container), "the second pause")
        wait_until(lambda: not limited.containers(sandbox_id=first), "the first one's stop")
        stopped = ok(alice.get(f"/v1/sandboxes/{first}"))
        assert stopped["status"] == "idle"
        assert "over BAY_MAX_PAUSED_MEMORY_MB=1024" in stopped["last_stop"]
        assert ok(alice.get(f"/v1/sandboxes/{second}"))["status"] == "paused"
        again = python(alice, first, "print(open('notes.txt').read())")
        assert again["output"].strip() == "kept"
        assert ok(alice.get(f"/v1/sandboxes/{first}"))["last_stop"] is None
